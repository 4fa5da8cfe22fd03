"""cairn: crash-safe, checksummed checkpoints of machine-learning training.

- ``cairn.Checkpointer``: for plain training loops, ``restore(state)`` (in place; a
  ``cairn.CheckpointInfo`` or None), ``maybe_save(state, ...)``, ``save(state, ...)`` and
  ``wait()``, where ``state`` maps names to modules, optimizers, schedulers, scalers,
  ``cairn.RngState()`` and plain values; and AllenNLP 2.4's Checkpointer API (save, maybe_save, find latest,
  restore, best model, from_params) with atomic saves, retention that survives restarts, and
  retention by metric (``keep_best_k``) or epoch (``keep_every_n_epochs``).
- ``cairn.save_file`` / ``cairn.load_file``: one state in one safetensors file.
- ``cairn.verify``, ``cairn.list_directory``, ``cairn.explain``, ``cairn.prune``: the directory
  tools of the ``cairn`` command; ``cairn.CheckpointFolder``: one checkpoint folder opened on
  its own (manifest facts, verify, load); ``Checkpointer.restore_shards``: a sharded checkpoint's
  boxes.
- Errors: ``cairn.Error`` and its subclasses ``CorruptDataError``, ``IoError``,
  ``LockedError``, ``InvalidArgumentError``, ``RankError``.

Log lines (saves, deletions and why, skipped damaged checkpoints) go to the ``cairn`` logger.
"""
from .checkpointer import Checkpointer, RetentionDecision
from .errors import CorruptDataError, Error, InvalidArgumentError, IoError, LockedError, RankError
from .files import load_file, save_file
from .info import CheckpointInfo
from .rng import RngState
from .sharding import RestoredShards, Shard
from .tools import (CheckpointFile, CheckpointFolder, DamagedCheckpoint, DirectoryListing,
                    ForeignEntry, Problem, VerifyReport, explain, list_directory, prune, verify)

__version__ = "0.1.0"
__all__ = [
    "Checkpointer", "CheckpointInfo", "RngState", "RetentionDecision", "save_file", "load_file", "Error", "CorruptDataError",
    "IoError", "LockedError", "InvalidArgumentError", "RankError",
    "verify", "list_directory", "explain", "prune", "VerifyReport", "Problem", "DirectoryListing",
    "DamagedCheckpoint", "ForeignEntry", "RestoredShards", "Shard", "CheckpointFolder",
    "CheckpointFile",
]
