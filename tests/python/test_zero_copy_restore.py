"""Tensors restored without a copy view a private copy-on-write mapping of the files: writing into
them in place (torch or numpy, every dtype) never crashes, changes the values in memory, never
reaches the files (byte-identical, and `cairn verify` passes) nor another restore, and the next
restore gives the saved values.

Every write runs in a child interpreter: where the mapping is read-only (cairn before the
copy-on-write mapping), the first in-place write into a torch tensor kills the process with
SIGSEGV, which must fail one test, not end the suite.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cairn
from cairn import _core

# Dtypes every torch this suite runs on (1.13 and 2.x) computes with on the CPU.
DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
          "bool"]


def model_state():
    state = {}
    for index, name in enumerate(DTYPES):
        values = (torch.arange(15) + index) % 7  # small integers: exact in every dtype, and +1 too
        state[f"layer{index}.weight"] = (values % 2 if name == "bool" else values).to(
            getattr(torch, name)).reshape(3, 5)
    state["big"] = (torch.arange(1 << 18) % 7).float()  # 1 MiB: many pages of the mapping
    state["scalar"] = torch.tensor(3.0)
    state["empty"] = torch.zeros(0, 4)
    return state


def training_state():
    return {"optimizer": {"state": {0: {"step": 3, "exp_avg": torch.full((4, 2), 2.0),
                                        "exp_avg_sq": torch.ones(4, dtype=torch.float64)}},
                          "param_groups": [{"lr": 0.1, "params": [0]}]},
            "counter": 5}


# Tensors with elements in the states above (the empty one is written into too, but holds
# nothing to change).
WRITTEN_MODEL = len(DTYPES) + 2
WRITTEN_TRAINING = 2


class Trainer:
    def get_checkpoint_state(self):
        return model_state(), training_state()


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cairn_cli():
    """The command-line tool: $CAIRN_CLI (set by CTest), else beside the build's Python package."""
    cli = os.environ.get("CAIRN_CLI") or str(
        Path(_core.__file__).resolve().parents[2] / "tools" / "cairn" / "cairn")
    assert os.access(cli, os.X_OK), f"no cairn command-line tool at {cli}: set CAIRN_CLI"
    return cli


def run_child(code, *args):
    """Runs `code` in a fresh interpreter; its stdout. Fails the test, naming the signal, when
    the child is killed (a write into read-only memory: SIGSEGV)."""
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                            text=True, timeout=600)
    if result.returncode < 0:
        pytest.fail(f"the child process died by {signal.Signals(-result.returncode).name}\n"
                    f"{result.stdout}{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# Restores through `entry` (with the default `copy` and with copy=False), writes in place into
# every tensor, checks the values changed in memory, that the files are byte for byte what they
# were while those writes are alive, and that a second restore meanwhile gives the saved values.
WRITE_INTO_EVERY_TENSOR = r"""
import hashlib, json, sys, warnings
warnings.simplefilter("error")  # torch warns when numpy hands it read-only memory
import numpy as np, torch, cairn

run_dir, entry, tensor_type = sys.argv[1:4]
digests = json.loads(sys.argv[4])
checkpointer = cairn.Checkpointer(run_dir) if entry != "load_file" else None

def restore(**kwargs):
    if entry == "restore_checkpoint":
        return checkpointer.restore_checkpoint(tensor_type=tensor_type, **kwargs)
    if entry == "best_model_state":
        return checkpointer.best_model_state(tensor_type=tensor_type, **kwargs)
    return cairn.load_file(run_dir, tensor_type=tensor_type, **kwargs)

def leaves(tree, path=""):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from leaves(value, f"{path}.{index}" if path else str(index))
    elif isinstance(tree, (torch.Tensor, np.ndarray)):
        yield path, tree

def snapshot(value):
    return value.clone() if isinstance(value, torch.Tensor) else value.copy()

def write_in_place(value):
    if isinstance(value, torch.Tensor):
        return value.logical_not_() if value.dtype == torch.bool else value.add_(1)
    if value.dtype == np.bool_:
        return np.logical_not(value, out=value)
    return np.add(value, 1, out=value)

def expected_after(before):
    return write_in_place(snapshot(before))  # the same write, into a copy

def equal(a, b):
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    return a.dtype == b.dtype and np.array_equal(a, b)

report = {}
for variant, kwargs in (("default", {}), ("copy=False", {"copy": False})):
    restored = restore(**kwargs)
    before = {path: snapshot(value) for path, value in leaves(restored)}
    changed = report.setdefault(variant, [])
    for path, value in leaves(restored):
        write_in_place(value)
        assert equal(value, expected_after(before[path])), (variant, path, value)
        if not equal(value, before[path]):
            changed.append(path)
    for path, digest in digests.items():  # the files, while the writes are alive
        with open(path, "rb") as file:
            assert hashlib.sha256(file.read()).hexdigest() == digest, (variant, path)
    again = dict(leaves(restore(**kwargs)))
    assert again.keys() == before.keys(), variant
    for path, value in again.items():
        assert equal(value, before[path]), (variant, "second restore", path)
    for path, value in leaves(restored):  # the first restore still holds its writes
        assert equal(value, expected_after(before[path])), (variant, "after", path)
print(json.dumps(report))
"""


def saved_run(tmp_path):
    run_dir = tmp_path / "run"
    checkpointer = cairn.Checkpointer(run_dir)
    checkpointer.save_checkpoint(0, Trainer(), is_best_so_far=True)
    files = sorted((run_dir / "checkpoints").rglob("*.safetensors")) + sorted(
        (run_dir / "best").rglob("*.safetensors"))
    assert len(files) >= 3, files
    return run_dir, files


@pytest.mark.parametrize("tensor_type", ["torch", "numpy"])
@pytest.mark.parametrize("entry", ["restore_checkpoint", "best_model_state", "load_file"])
def test_writing_into_every_restored_tensor_changes_memory_only(tmp_path, entry, tensor_type):
    if entry == "load_file":
        target = tmp_path / "state.safetensors"
        cairn.save_file({"model": model_state(), "training": training_state()}, target)
        files, written = [target], WRITTEN_MODEL + WRITTEN_TRAINING
    else:
        target, files = saved_run(tmp_path)
        written = WRITTEN_MODEL + (WRITTEN_TRAINING if entry == "restore_checkpoint" else 0)
    digests = {str(path): sha256(path) for path in files}

    report = json.loads(run_child(WRITE_INTO_EVERY_TENSOR, target, entry, tensor_type,
                                  json.dumps(digests)))

    assert {variant: len(paths) for variant, paths in report.items()} == {
        "default": written, "copy=False": written}
    assert {str(path): sha256(path) for path in files} == digests  # byte-identical
    verified = subprocess.run([cairn_cli(), "verify", str(target)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    if entry == "load_file":
        restored = cairn.load_file(target)
        saved = {"model": model_state(), "training": training_state()}
    elif entry == "best_model_state":
        restored, saved = cairn.Checkpointer(target).best_model_state(), model_state()
    else:
        restored = cairn.Checkpointer(target).restore_checkpoint()
        saved = (model_state(), {**training_state(), "epoch": 0})
    assert_same(restored, saved)


def assert_same(restored, saved):
    if isinstance(saved, torch.Tensor):
        assert restored.dtype == saved.dtype and torch.equal(restored, saved)
    elif isinstance(saved, dict):
        assert restored.keys() == saved.keys()
        for key in saved:
            assert_same(restored[key], saved[key])
    elif isinstance(saved, (list, tuple)):
        assert len(restored) == len(saved)
        for mine, theirs in zip(restored, saved):
            assert_same(mine, theirs)
    else:
        assert restored == saved


# Resumes training from a restore that made no copy, with the restored tensors themselves as the
# model's parameters (load_state_dict(assign=True) where torch has it) and the optimizer's state
# (torch 2's Optimizer.load_state_dict keeps the tensors it is given), and compares with a resume
# from owned copies.
RESUME_TRAINING = r"""
import inspect, sys, torch, cairn
run_dir = sys.argv[1]

def parts():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    return model, torch.optim.AdamW(model.parameters(), lr=0.01)

def resume(copy):
    model, optimizer = parts()
    model_state, training = cairn.Checkpointer(run_dir).restore_checkpoint(copy=copy)
    if "assign" in inspect.signature(model.load_state_dict).parameters:
        model.load_state_dict(model_state, assign=True)
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    else:
        model.load_state_dict(model_state)
    optimizer.load_state_dict(training["optimizer"])
    inputs = torch.arange(12.0).reshape(3, 4) / 10
    for _ in range(3):
        optimizer.zero_grad()
        model(inputs).square().sum().backward()
        optimizer.step()
    return model.state_dict()

copied, zero_copy = resume(copy=True), resume(copy=False)
assert copied.keys() == zero_copy.keys()
for name in copied:
    assert torch.equal(copied[name], zero_copy[name]), name
print("resumed")
"""


def test_training_resumes_in_the_restored_tensors_themselves(tmp_path):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model(torch.ones(2, 4)).sum().backward()
    optimizer.step()

    class Trained:
        def get_checkpoint_state(self):
            return model.state_dict(), {"optimizer": optimizer.state_dict()}

    cairn.Checkpointer(tmp_path / "run").save_checkpoint(0, Trained())
    files = sorted((tmp_path / "run").rglob("*.safetensors"))
    digests = {path: sha256(path) for path in files}
    assert run_child(RESUME_TRAINING, tmp_path / "run").strip() == "resumed"
    assert {path: sha256(path) for path in files} == digests
    for name, tensor in cairn.Checkpointer(tmp_path / "run").restore_checkpoint()[0].items():
        assert torch.equal(tensor, model.state_dict()[name]), name



def test_tensors_not_in_a_mapping_come_writable_too(tmp_path):
    # A file whose tensors hold no bytes is not mapped; a copying read (the C++ reader's own
    # copy, as a sharded restore's assembled tensors are) gives memory no mapping backs. Both
    # reach Python as arrays that can be written.
    empty = tmp_path / "empty.safetensors"
    cairn.save_file({"e": torch.zeros(0, 3)}, empty)
    restored = cairn.load_file(empty, tensor_type="numpy", copy=False)["e"]
    assert restored.shape == (0, 3) and restored.flags.writeable
    full = tmp_path / "full.safetensors"
    cairn.save_file({"w": torch.arange(6.0)}, full)
    raw = _core.load_file(str(full), True)["w"]
    assert raw.array.flags.writeable and raw.array.tolist() == [0, 1, 2, 3, 4, 5]
    raw.array[0] = 9
    assert cairn.load_file(full)["w"].tolist() == [0, 1, 2, 3, 4, 5]



def mapped_file(address):
    """The file whose mapping holds `address` in this process (/proc/self/maps); None for
    memory no file backs."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            start, end = (int(bound, 16) for bound in fields[0].split("-"))
            if start <= address < end:
                return fields[5].strip() if len(fields) == 6 and fields[5].startswith("/") else None
    return None


def test_the_default_restore_is_zero_copy_and_copies_come_on_request(tmp_path):
    run_dir, files = saved_run(tmp_path)
    checkpointer = cairn.Checkpointer(run_dir)
    path = tmp_path / "f.safetensors"
    cairn.save_file(model_state(), path)
    model_file = next(str(file) for file in files if file.parent.parent.name == "checkpoints"
                      and file.name == "model.safetensors")
    best_file = next(str(file) for file in files if file.parent.name == "best")
    restores = [(model_file, lambda **kw: checkpointer.restore_checkpoint(**kw)[0]),
                (best_file, checkpointer.best_model_state),
                (str(path), lambda **kw: cairn.load_file(path, **kw))]
    for file, restore in restores:
        for tensor_type in ("torch", "numpy"):
            viewed = restore(tensor_type=tensor_type)["big"]
            copied = restore(tensor_type=tensor_type, copy=True)["big"]
            address = {"torch": lambda tensor: tensor.data_ptr(),
                       "numpy": lambda array: array.ctypes.data}[tensor_type]
            assert os.path.realpath(mapped_file(address(viewed)) or "") == os.path.realpath(file), (
                file, tensor_type, "the default restore made a copy")
            assert mapped_file(address(copied)) is None, (file, tensor_type)
