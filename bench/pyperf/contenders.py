"""The contenders of the Python benchmark. Each run() does one repetition of its rows on the
workload's state and reports each row's seconds to record(row, seconds).

Every saver is durable: what it writes is fsynced, and the folder that names it. Every saver
deletes its previous output just before it writes, so all of them reuse freed page cache alike
(fresh page cache costs up to 3x on this VM: docs/performance.md, "Memory state"); the state is
touched before every row that reads or writes it. Loads read warm, from the page cache of the
file their saver wrote in the same repetition.
"""
import json
import os
import shutil
import subprocess
import warnings

import safetensors.torch
import torch
import torch.distributed.checkpoint as dcp

import cairn

from .measure import fsync_path, memcpy, seconds_of, touch

SAVE = "cairn save (durable, committed)"
RESTORE_IN_PLACE = "cairn restore(state), in place"
RESTORE_ZERO_COPY = "cairn restore_checkpoint(), zero-copy"
BLOCKED = "cairn async save: caller blocked"
DURABLE = "cairn async save: until durable"
CPP_SAVE = "C++ cairn save, same bytes"
TORCH_SAVE = "torch.save + fsync"
TORCH_LOAD = "torch.load"
TORCH_LOAD_MMAP = "torch.load(mmap=True)"
ST_SAVE = "safetensors save_file + fsync"
ST_LOAD = "safetensors load_file"
DCP_SAVE = "torch.distributed.checkpoint.save"
DCP_LOAD = "torch.distributed.checkpoint.load"
RAW_WRITE = "write(2) + fsync (raw bytes)"
MEMCPY = "memcpy of the state"


def removed(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)
    return path


def state_dicts(state):
    return {name: value.state_dict() for name, value in state.items()}


class CairnSync:
    """cairn's plain-loop API: save(state) into a new directory each time (so the first-save
    work is counted, as in cairn-bench), then, from a reader, restore(state) in place and
    restore_checkpoint() (zero-copy, the default). Both restores verify every checksum."""

    def __init__(self, workload, folder):
        self.workload, self.folder, self.last, self.count = workload, folder, None, 0

    def run(self, record):
        if self.last:
            removed(self.last)
        self.last = os.path.join(self.folder, f"sync-{self.count}")
        self.count += 1
        writer = cairn.Checkpointer(self.last, num_serialized_models_to_keep=None)
        state, tensors = self.workload.state, self.workload.tensors()
        touch(tensors)
        record(SAVE, seconds_of(lambda: writer.save(state, epoch=0)))
        del writer
        reader = cairn.Checkpointer(self.last)
        touch(tensors)
        record(RESTORE_IN_PLACE, seconds_of(lambda: reader.restore(state)))
        restored = []
        record(RESTORE_ZERO_COPY, seconds_of(lambda: restored.append(reader.restore_checkpoint())))
        del restored


class CairnAsync:
    """save(state) with async_save=True, one checkpointer for the run (its staging memory is
    reused); its previous checkpoint is deleted before each save, outside the timing."""

    def __init__(self, workload, folder):
        self.workload, self.folder = workload, os.path.join(folder, "async")
        self.checkpointer = cairn.Checkpointer(self.folder, num_serialized_models_to_keep=None,
                                               async_save=True)
        self.epoch = 0

    def run(self, record):
        checkpoints = os.path.join(self.folder, "checkpoints")
        for name in os.listdir(checkpoints) if os.path.isdir(checkpoints) else []:
            removed(os.path.join(checkpoints, name))
        touch(self.workload.tensors())
        blocked = seconds_of(lambda: self.checkpointer.save(self.workload.state, epoch=self.epoch))
        rest = seconds_of(self.checkpointer.wait)
        self.epoch += 1
        record(BLOCKED, blocked)
        record(DURABLE, blocked + rest)


class CppSave:
    """The C++ save of the same tensors (cairn-bench-save-spec, a server started once)."""

    def __init__(self, workload, folder, program):
        self.folder, self.last, self.count = folder, None, 0
        self.bytes = workload.bytes()
        spec = os.path.join(folder, "spec.json")
        with open(spec, "w") as out:
            json.dump({"tensors": workload.spec()}, out)
        self.server = subprocess.Popen([program, spec], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        if self.server.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{program} did not start")

    def run(self, record):
        if self.last:
            removed(self.last)
        self.last = os.path.join(self.folder, f"cpp-{self.count}")
        self.count += 1
        self.server.stdin.write(f"save {self.last}\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline()
        if not answer:
            raise RuntimeError("cairn-bench-save-spec stopped")
        seconds, written = answer.split()
        if int(written) < self.bytes:
            raise RuntimeError(f"cairn-bench-save-spec wrote {written} bytes of {self.bytes}")
        record(CPP_SAVE, float(seconds))

    def close(self):
        self.server.stdin.close()
        self.server.wait()


class TorchSaveLoad:
    """torch.save of {name: state_dict()} to an open file, flush, fsync of it and its folder;
    torch.load (weights_only, torch 2's default) and torch.load(mmap=True), which maps the file
    and reads no tensor's bytes until they are used."""

    def __init__(self, workload, folder):
        self.workload, self.path = workload, os.path.join(folder, "torch.pt")

    def run(self, record):
        removed(self.path)
        touch(self.workload.tensors())

        def save():
            with open(self.path, "wb") as out:
                torch.save(state_dicts(self.workload.state), out)
                out.flush()
                os.fsync(out.fileno())
            fsync_path(os.path.dirname(self.path))

        record(TORCH_SAVE, seconds_of(save))
        for row, options in ((TORCH_LOAD, {}), (TORCH_LOAD_MMAP, {"mmap": True})):
            loaded = []
            record(row, seconds_of(lambda: loaded.append(torch.load(self.path, **options))))
            del loaded


def flat_tensors(state):
    """{dotted name: tensor} of every tensor of the state, as safetensors takes them (the
    optimizer's param_groups, plain values, are not tensors and are left out)."""
    flat = {}

    def walk(prefix, value):
        if isinstance(value, torch.Tensor):
            flat[prefix] = value
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)

    for name, value in state_dicts(state).items():
        walk(name, value)
    return flat


class SafetensorsSaveLoad:
    """safetensors.torch.save_file of the flat tensors, fsync of the file and its folder;
    load_file into new tensors."""

    def __init__(self, workload, folder):
        self.workload, self.path = workload, os.path.join(folder, "state.safetensors")

    def run(self, record):
        removed(self.path)
        touch(self.workload.tensors())

        def save():
            safetensors.torch.save_file(flat_tensors(self.workload.state), self.path)
            fsync_path(self.path)
            fsync_path(os.path.dirname(self.path))

        record(ST_SAVE, seconds_of(save))
        loaded = []
        record(ST_LOAD, seconds_of(lambda: loaded.append(safetensors.torch.load_file(self.path))))
        del loaded


class DcpSaveLoad:
    """torch.distributed.checkpoint in one process (no process group: DCP's no_dist path) with
    the modules and optimizers themselves (DCP calls their state_dict()/load_state_dict()).
    Its writer fsyncs its files; the folder is fsynced after. The load is in place."""

    def __init__(self, workload, folder):
        self.workload, self.path = workload, os.path.join(folder, "dcp")
        warnings.filterwarnings("ignore", message=".*assuming the intent is to (save|load)")

    def run(self, record):
        removed(self.path)
        state = dict(self.workload.state)
        touch(self.workload.tensors())

        def save():
            dcp.save(state, checkpoint_id=self.path)
            fsync_path(self.path)
            fsync_path(os.path.dirname(self.path))

        record(DCP_SAVE, seconds_of(save))
        touch(self.workload.tensors())
        record(DCP_LOAD, seconds_of(lambda: dcp.load(state, checkpoint_id=self.path)))


class RawWrite:
    """The bytes of every tensor written back to back with write(2), then fsync: what the disk
    can do, the bound of every durable save."""

    def __init__(self, workload, folder):
        self.workload, self.path = workload, os.path.join(folder, "raw.bin")

    def run(self, record):
        removed(self.path)
        tensors = self.workload.tensors()
        touch(tensors)

        def write():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                for tensor in tensors:
                    view = memoryview(tensor.detach().reshape(-1).view(torch.uint8).numpy())
                    while view:
                        view = view[os.write(fd, view[: 1 << 20]):]
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_path(os.path.dirname(self.path))

        record(RAW_WRITE, seconds_of(write))


class Memcpy:
    """One memcpy of the state into touched memory of its own: the bound of a restore in place."""

    def __init__(self, workload, folder):
        self.workload = workload
        self.copies = [torch.empty_like(t) for t in workload.tensors()]

    def run(self, record):
        tensors = self.workload.tensors()
        touch(tensors)
        touch(self.copies)
        record(MEMCPY, seconds_of(lambda: memcpy(tensors, self.copies)))

