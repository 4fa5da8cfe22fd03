"""Shared pieces of the framework integration tests (tests/integrations/test_*.py).

A training script under test follows one protocol: it trains for a fixed number of steps,
checkpointing into ``--dir``; it prints a line starting with ``training from`` once it is about
to train (after any resume), and ``resumed from <checkpoint> at step <n>`` before that when it
resumed; with ``--final PATH`` it writes its final weights there with ``cairn.save_file`` when
training ends. Runs of the same script must end with the same bytes in ``--final``.
"""
import json
import os
import random
import re
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence

TIMEOUT = 600


@dataclass
class Run:
    status: int
    output: str

    @property
    def resumed_step(self):
        """The step the run said it resumed at, or None when it started afresh."""
        for line in self.output.splitlines():
            if line.startswith("resumed from "):
                return int(line.rsplit("at step ", 1)[1].split()[0])
        return None


def run(script: Path, args: Sequence[str]) -> Run:
    """Runs the script to its end."""
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, f"{script.name} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return Run(done.returncode, done.stdout + done.stderr)


def timed_run(script: Path, args: Sequence[str]):
    """Runs the script to its end: (the run, seconds it spent training, start-up left out)."""
    process = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output, started = "", None
    for line in process.stdout:
        output += line
        if line.startswith("training from"):
            started = time.monotonic()
            break
    output += process.stdout.read()
    status = process.wait(timeout=TIMEOUT)
    assert status == 0 and started is not None, f"{script.name} failed:\n{output}"
    return Run(status, output), time.monotonic() - started


def start_and_kill(script: Path, args: Sequence[str], delay: float) -> Run:
    """Starts the script, waits until it trains, lets it run ``delay`` seconds and kills it with
    SIGKILL (unless it ended first)."""
    process = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("training from"):
            break
    time.sleep(delay)
    process.kill()
    lines.extend(process.stdout)
    return Run(process.wait(timeout=60), "".join(lines))


@dataclass
class KilledRuns:
    seed: int
    runs: List[Run] = field(default_factory=list)

    @property
    def kills(self) -> int:
        return sum(run.status == -9 for run in self.runs)

    def __str__(self) -> str:
        return f"seed {self.seed}, statuses {[run.status for run in self.runs]}, outputs:\n" + \
            "\n----\n".join(run.output[-3000:] for run in self.runs)


def kill_at_random_instants(script: Path, args: Sequence[str], training_seconds: float,
                            kills: int = 4) -> KilledRuns:
    """Runs the script ``kills`` times (fewer if one finishes), each killed with SIGKILL at an
    instant uniform in [0, training_seconds / 3] after it starts training: most kills land
    inside training, some inside a save, and together they do not finish the run. The seed is
    random and part of every failure message."""
    seed = int.from_bytes(os.urandom(4), "little")
    chooser = random.Random(seed)
    result = KilledRuns(seed)
    for _ in range(kills):
        result.runs.append(start_and_kill(script, args, chooser.uniform(0.0, training_seconds / 3)))
        if result.runs[-1].status == 0:
            break
    return result


# ---- what a run leaves on disk ----

@dataclass
class Newest:
    name: str
    epoch: int
    batches_this_epoch: "int | None"  # None for a save at the end of its epoch


def newest_checkpoint(folder: Path) -> Newest:
    """The newest checkpoint of a cairn directory, as a restore finds it: the listing's newest,
    or a newer one a kill left published in checkpoints/ but not yet recorded in the ledger
    (the listing shows it as "not yet recorded"; a restore takes it, as it verifies, and the
    next save adopts it). Epoch and batches come from the name (docs/format.md:
    ckpt-<seq>-epoch<E>-batch<B>, or ckpt-<seq>-epoch<E>-end)."""
    import cairn
    listing = cairn.list_directory(folder)
    names = [info.name for info in listing.checkpoints] + \
        [Path(entry.path).name for entry in listing.others if entry.kind == "not yet recorded"]
    assert names, f"no checkpoint in {folder}"
    name = max(names)  # the sequence number leads, zero-padded
    epoch, batches = re.fullmatch(r"ckpt-\d+-epoch(\d+)-(?:batch(\d+)|end)", name).groups()
    return Newest(name, int(epoch), None if batches is None else int(batches))

PICKLE_PROTOCOL_MARK = 0x80  # a pickle of protocol 2 and later starts with 0x80, then the protocol
ZIP_MARK = b"PK\x03\x04"     # torch.save's format is a zip holding data.pkl


# cairn writes a file atomically through ".<name>.cairn-tmp.<pid>.<n>" beside it (docs/format.md,
# section 3); a process killed in the middle leaves that partial file behind, never read.
CAIRN_TEMPORARY = re.compile(r"^\..+\.cairn-tmp\.\d+\.\d+$")


def _refuse_pickle_and_zip(path: Path, data: bytes) -> None:
    if data[:1] and data[0] == PICKLE_PROTOCOL_MARK and data[1:2] and data[1] <= 5:
        raise AssertionError(f"{path} is a pickle")
    if data.startswith(ZIP_MARK):
        raise AssertionError(f"{path} is a zip archive (torch.save's format)")


def kind_of(path: Path) -> str:
    """``"safetensors"`` or ``"json"`` for a file that is one (parsed, not guessed from its
    name); otherwise AssertionError naming the file and what it looks like. A temporary file
    of a killed cairn writer (CAIRN_TEMPORARY) is ``"cairn temporary"`` unless it is a pickle
    or a zip."""
    data = path.read_bytes()
    _refuse_pickle_and_zip(path, data)
    if CAIRN_TEMPORARY.match(path.name):
        return "cairn temporary"
    if len(data) >= 8:
        (header_size,) = struct.unpack("<Q", data[:8])
        if 8 + header_size <= len(data):
            try:
                header = json.loads(data[8:8 + header_size])
            except ValueError:
                header = None
            if isinstance(header, dict):
                ends = [entry["data_offsets"][1] for key, entry in header.items()
                        if key != "__metadata__"]
                assert 8 + header_size + max(ends, default=0) == len(data), \
                    f"{path}: a safetensors header whose tensors do not end the file"
                return "safetensors"
    try:
        json.loads(data.decode("utf-8"))
    except ValueError:
        raise AssertionError(f"{path} is neither safetensors nor JSON: {data[:40]!r}") from None
    return "json"


def assert_only_safetensors_and_json(root: Path) -> int:
    """Every file under ``root`` is safetensors or JSON (cairn's lock file holds the writer's
    pid, a JSON number; its owner markers are JSON too), or a killed cairn writer's partial
    temporary file that is no pickle or zip. Returns how many files were checked."""
    files = [path for path in root.rglob("*") if path.is_file() and not path.is_symlink()]
    assert files, f"nothing was written under {root}"
    for path in files:
        kind_of(path)
    return len(files)


def flip_a_byte(path: Path, offset: int = -1) -> None:
    """Flips every bit of one byte of ``path`` (by default its last: a tensor's data)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
