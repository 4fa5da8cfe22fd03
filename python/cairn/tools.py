"""Directory tools: verify, list, explain and prune what is on disk, as the ``cairn`` command
does (``cairn verify``, ``ls``, ``prune --dry-run``, ``prune``), outside any training run.

The C++ work runs with the GIL released. Errors are cairn's: ``IoError`` for a path that cannot
be read, ``LockedError`` when ``prune`` meets a live writer, ``InvalidArgumentError`` for a bad
option; each message names the path.
"""
import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from . import _core
from .checkpointer import RetentionDecision
from .errors import InvalidArgumentError
from .info import CheckpointInfo


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file."""
    file: str
    tensor: str  # "" when the problem is not about one tensor
    what: str


@dataclass(frozen=True)
class VerifyReport:
    """Every problem ``verify`` found (it does not stop at the first), and what it checked."""
    problems: Tuple[Problem, ...]
    files: int    # files checked
    tensors: int  # tensors checked
    bytes: int    # bytes read and hashed

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class DamagedCheckpoint:
    """A checkpoint the directory's ledger records that does not open; ``info`` holds what its
    name and the ledger tell (its size is unknown: 0)."""
    info: CheckpointInfo
    problem: str  # the first problem, the folder's path left out: "MANIFEST.json: ..."


@dataclass(frozen=True)
class ForeignEntry:
    """Something in ``checkpoints/`` or ``staging/`` that is not a listed checkpoint."""
    path: str
    kind: str  # "staging leftover", "not written by cairn", "not yet recorded" or "retired"


@dataclass(frozen=True)
class DirectoryListing:
    checkpoints: Tuple[CheckpointInfo, ...]  # the ledger's that open, oldest first
    damaged: Tuple[DamagedCheckpoint, ...]   # the ledger's that do not open, oldest first
    latest: Optional[str]                    # name of the newest listed checkpoint
    others: Tuple[ForeignEntry, ...]
    writer_pid: Optional[int]                # a writer holds the directory


def verify(path: "os.PathLike[str] | str",
           progress: Optional[Callable[[int, int], None]] = None) -> VerifyReport:
    """Checks everything at ``path``: one ``.safetensors`` file, a checkpoint folder (its
    manifest, each file's size and hash, every tensor's checksum) or a whole serialization
    directory (every checkpoint, ``best/``, the ledger). ``progress(done, total)`` is called as
    bytes are checked; an exception it raises ends the verify. Raises IoError when ``path``
    cannot be read at all; damage is reported, not raised."""
    if progress is not None and not callable(progress):
        raise InvalidArgumentError(f"progress must be callable (done, total), not "
                                   f"{type(progress).__name__} (verifying {os.fspath(path)})")
    problems, files, tensors, size = _core.verify_path(os.fspath(path), progress)
    return VerifyReport(tuple(Problem(*problem) for problem in problems), files, tensors, size)


def list_directory(serialization_dir: "os.PathLike[str] | str") -> DirectoryListing:
    """The checkpoints of a serialization directory, the damaged ones with their first problem,
    the latest, the leftovers and foreign entries, and the pid of a writer holding it. Reads no
    tensor data and takes no lock. Raises IoError when the directory does not exist."""
    checkpoints, damaged, latest, others, writer_pid = _core.list_directory(
        os.fspath(serialization_dir))
    return DirectoryListing(
        tuple(CheckpointInfo._from_core(info) for info in checkpoints),
        tuple(DamagedCheckpoint(CheckpointInfo._from_core(info), problem)
              for info, problem in damaged),
        latest, tuple(ForeignEntry(*entry) for entry in others), writer_pid)


def explain(serialization_dir: "os.PathLike[str] | str", *,
            num_serialized_models_to_keep: Optional[int] = None,
            keep_serialized_model_every_num_seconds: Optional[float] = None,
            keep_best_k: Optional[int] = None, metric: Optional[str] = None,
            mode: Optional[str] = None,
            keep_every_n_epochs: Optional[int] = None) -> List[RetentionDecision]:
    """What the retention policies decide for every checkpoint the directory's ledger records,
    oldest first, and why; deletes nothing and takes no lock. The policies are the last
    writer's, each option given here replacing the writer's (None: the writer's;
    ``num_serialized_models_to_keep`` negative keeps all, ``keep_best_k`` or
    ``keep_every_n_epochs`` 0 turns that policy off). Empty when nothing was ever saved."""
    return [RetentionDecision(*decision) for decision in _core.explain_directory(
        os.fspath(serialization_dir), num_serialized_models_to_keep,
        keep_serialized_model_every_num_seconds, keep_best_k, metric, mode, keep_every_n_epochs)]


def prune(serialization_dir: "os.PathLike[str] | str", *, dry_run: bool = False,
          num_serialized_models_to_keep: Optional[int] = None,
          keep_serialized_model_every_num_seconds: Optional[float] = None,
          keep_best_k: Optional[int] = None, metric: Optional[str] = None,
          mode: Optional[str] = None,
          keep_every_n_epochs: Optional[int] = None) -> List[RetentionDecision]:
    """Applies the retention policies as ``explain`` does and deletes what they say (nothing with
    ``dry_run``); returns the decisions. Only checkpoints cairn recorded are ever deleted, and
    the newest one whose data verifies is kept unless ``num_serialized_models_to_keep`` is 0.
    Raises LockedError while a writer holds the directory (also for a dry run)."""
    return [RetentionDecision(*decision) for decision in _core.prune_directory(
        os.fspath(serialization_dir), num_serialized_models_to_keep,
        keep_serialized_model_every_num_seconds, keep_best_k, metric, mode, keep_every_n_epochs,
        bool(dry_run))]
