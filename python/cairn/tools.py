"""Directory tools: verify, list, explain and prune what is on disk, as the ``cairn`` command
does (``cairn verify``, ``ls``, ``prune --dry-run``, ``prune``), outside any training run; and
``CheckpointFolder``, one committed checkpoint folder opened on its own.

The C++ work runs with the GIL released. Errors are cairn's: ``IoError`` for a path that cannot
be read, ``LockedError`` when ``prune`` meets a live writer, ``InvalidArgumentError`` for a bad
option; each message names the path.
"""
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _core
from ._convert import decode
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


@dataclass(frozen=True)
class CheckpointFile:
    """One file of a checkpoint folder, as its manifest lists it."""
    name: str  # "model.safetensors", "training_state.safetensors", "shards-rank00000.safetensors"
    path: str
    role: str  # "model", "training_state" or "shard" (one rank's pieces of sharded tensors)
    size: int  # bytes


class CheckpointFolder:
    """One committed checkpoint folder, read-only: ``<dir>/checkpoints/<name>``, or a version of
    the best model (``<dir>/best``, weights alone). Opening reads and checks its manifest only;
    the facts below are the manifest's. Raises CorruptDataError naming the manifest when it is
    missing (an incomplete checkpoint) or altered, InvalidArgumentError when ``path`` is not a
    directory, IoError when it cannot be read (a missing folder among them).

    ``verify()`` checks every byte and reports every problem, as ``cairn.verify`` does for a
    folder; ``load()`` reads the states, each tensor verified as it is read (one pass)."""

    def __init__(self, path: "os.PathLike[str] | str"):
        self._core = _core.CheckpointFolder(os.fspath(path))
        facts = self._core.facts()
        self.path: str = facts["path"]
        self.name: str = facts["name"]
        self.seq: int = facts["seq"]                # save sequence: larger is newer
        self.epoch: int = facts["epoch"]
        self.batches_this_epoch: Optional[int] = facts["batches_this_epoch"]  # inside an epoch
        self.save_time: float = facts["save_time"]  # seconds since the Unix epoch
        self.metrics: Dict[str, float] = dict(facts["metrics"])
        self.is_best_version: bool = facts["is_best_version"]  # weights alone, no training state
        self.size_bytes: int = facts["size_bytes"]
        self.shard_files: int = facts["shard_files"]  # ranks that wrote pieces (0: not sharded)
        self.files: Tuple[CheckpointFile, ...] = tuple(CheckpointFile(*f) for f in facts["files"])

    def __repr__(self) -> str:
        return f"CheckpointFolder({self.path!r})"

    def verify(self, progress: Optional[Callable[[int, int], None]] = None) -> VerifyReport:
        """Every check of the folder (names, sizes, whole-file hashes, headers, every tensor's
        checksum where a hash differs, shard pieces), every problem reported, none raised.
        ``progress(done, total)`` as for ``cairn.verify``."""
        if progress is not None and not callable(progress):
            raise InvalidArgumentError(f"progress must be callable (done, total), not "
                                       f"{type(progress).__name__} (verifying {self.path})")
        problems, files, tensors, size = self._core.verify(progress)
        return VerifyReport(tuple(Problem(*problem) for problem in problems), files, tensors, size)

    def load(self, tensor_type: Optional[str] = None,
             copy: bool = False) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
        """``(model_state, training_state)``, as ``Checkpointer.restore_checkpoint`` gives them
        (sharded tensors whole); ``training_state`` is None for a best version. Each tensor is
        verified as it is read: CorruptDataError names the file and the reason. ``tensor_type``
        and ``copy`` as for ``restore_checkpoint``."""
        model_state, training_state = self._core.load()
        return (decode(model_state, tensor_type, copy),
                None if training_state is None else decode(training_state, tensor_type, copy))


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
