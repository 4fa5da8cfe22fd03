"""cairn inside PyTorch Lightning (``lightning.pytorch``, 2.x).

- ``CairnCheckpointIO``: ``Trainer(plugins=[CairnCheckpointIO()])`` writes every checkpoint
  Lightning asks for (``.../epoch=0-step=50.ckpt``, ``.../last.ckpt``) as a cairn serialization
  directory of that name holding one checkpoint: atomic, checksummed, no pickle.
- ``CairnModelCheckpoint``: a ``ModelCheckpoint`` whose saves all go to one cairn directory,
  ``dirpath``, where cairn's retention rules decide what is kept.

Only ``import cairn.lightning`` imports Lightning; ``import cairn`` never does.
"""
import math
import os
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

import lightning.pytorch as pl
import torch
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from lightning_utilities.core.apply_func import apply_to_collection

from . import _logging, tools
from ._lightning_folders import (check_save_target, foreign_entries, is_cairn_dir as _is_cairn_dir,
                                 publish_new, remove_out_of_sight)
from ._lightning_tree import from_pair, position, to_pair
from ._pair import encode_pair, restore_pair, save_encoded_pair
from .checkpointer import Checkpointer
from .errors import CorruptDataError, InvalidArgumentError, LockedError


def _missing_private() -> List[str]:
    """The private Lightning APIs used below that this Lightning lacks (tested with 2.6.6)."""
    from lightning.pytorch.loops.evaluation_loop import _EvaluationLoop
    from lightning.pytorch.strategies import Strategy
    from lightning.pytorch.trainer.connectors.checkpoint_connector import _CheckpointConnector
    callback = ModelCheckpoint()
    missing = [f"ModelCheckpoint.{name}" for name in (
        "_save_topk_checkpoint", "_save_last_checkpoint", "_find_last_checkpoints",
        "_last_global_step_saved", "_last_checkpoint_saved", "_every_n_epochs", "current_score",
        "best_model_score", "best_model_path", "last_model_path") if not hasattr(callback, name)]
    if "_has_run" not in _EvaluationLoop.__init__.__code__.co_names:
        missing.append("_EvaluationLoop._has_run")
    if not hasattr(_CheckpointConnector, "dump_checkpoint"):
        missing.append("_CheckpointConnector.dump_checkpoint")
    if "_checkpoint_io" not in Strategy.__init__.__code__.co_names:
        missing.append("Strategy._checkpoint_io")
    return missing


_missing = _missing_private()
if _missing:
    raise ImportError(f"cairn.lightning needs {', '.join(_missing)}, which lightning "
                      f"{pl.__version__} lacks (written for 2.6.6)")

# Checkpointers alive in this process by folder (a CairnModelCheckpoint's), so that a load from
# that folder reads through the writer that holds it instead of failing with LockedError.
_writers: Dict[str, Checkpointer] = {}


def _folder(path: Any) -> str:
    folder = os.fspath(path)
    if "://" in folder:
        raise InvalidArgumentError(f"{folder}: cairn.lightning writes to local paths only")
    return os.path.abspath(folder)


def _is_last_name(name: str) -> bool:
    """Whether ``name`` is the one ModelCheckpoint gives its last checkpoint (``last.ckpt``,
    ``last-v1.ckpt``...): the only save whose damage a sibling may stand in for, as it is what
    ``ckpt_path="last"`` resumes from; a named checkpoint is loaded as named, or not at all."""
    last, extension = ModelCheckpoint.CHECKPOINT_NAME_LAST, ModelCheckpoint.FILE_EXTENSION
    return re.fullmatch(rf"{re.escape(last)}(?:-v\d+)?{re.escape(extension)}", name) is not None


def _save(checkpointer: Callable[[], Checkpointer], checkpoint: Dict[str, Any], *,
          is_best_so_far: bool = False, metrics: Optional[Dict[str, float]] = None) -> None:
    """Saves Lightning's dict as one checkpoint of ``checkpointer()``; a value that cannot be
    stored is refused, naming its key, before the checkpointer is opened."""
    pair = encode_pair(*to_pair(checkpoint))
    epoch, batches = position(checkpoint)
    save_encoded_pair(checkpointer(), pair, epoch=epoch, batches_this_epoch=batches,
                      is_best_so_far=is_best_so_far, metrics=metrics)


def _save_new(folder: str, checkpoint: Dict[str, Any]) -> None:
    """The first save to ``folder``, published whole under its name (``publish_new``)."""
    def write(building: str) -> None:
        opened = []

        def opening() -> Checkpointer:
            opened.append(Checkpointer(building, num_serialized_models_to_keep=1))
            return opened[-1]
        _save(opening, checkpoint)
        opened.pop().wait()  # the last reference: its lock is released before the rename
    publish_new(folder, write)


def _restore(folder: str) -> Optional[Tuple[Dict[str, Any], Dict[str, Any], Any]]:
    """(model_state, training_state, info) of the newest valid checkpoint in a cairn folder."""
    writer = _writers.get(folder)
    if writer is not None:
        return restore_pair(writer)
    return restore_pair(Checkpointer(folder, num_serialized_models_to_keep=None))  # deletes none


def _read_one(folder: str) -> Dict[str, Any]:
    """Lightning's dict from one checkpoint folder (``checkpoints/<name>``) or one version of
    ``best``, each tensor verified as it is read (tools.CheckpointFolder.load: one pass over the
    bytes). ``best`` holds the weights alone: the whole checkpoint of the same name is read
    while retention keeps it, else the weights (what ``validate`` needs)."""
    folder = os.path.realpath(folder)
    whole = os.path.join(os.path.dirname(os.path.dirname(folder)), "checkpoints",
                         os.path.basename(folder))
    folder = whole if os.path.isdir(whole) else folder
    try:
        model_state, training_state = tools.CheckpointFolder(folder).load()
    except CorruptDataError as error:
        raise CorruptDataError(f"{folder}: {error}") from error
    if training_state is None:
        return {"state_dict": model_state, "pytorch-lightning_version": pl.__version__}
    return from_pair(model_state, training_state, folder)


class CairnCheckpointIO(CheckpointIO):
    """Lightning's checkpoint writer on cairn: ``Trainer(plugins=[CairnCheckpointIO()])``.

    Each path Lightning names becomes a cairn serialization directory of that name keeping one
    checkpoint: a save is one atomic commit into it, after which the previous one is deleted,
    so overwriting ``last.ckpt`` is crash-safe. ``checkpoint["state_dict"]`` goes to the model
    file, the rest of the dict (loops, callbacks, optimizers, hyper-parameters) to the
    training-state file as plain data; a value that cannot be stored raises
    InvalidArgumentError naming its key before anything is written.

    ``load_checkpoint`` gives the dict back as it went in (tensors as CPU tensors; tuples as
    tuples) from the newest checkpoint of the folder that verifies; when none does and the
    folder has Lightning's last name (``last.ckpt``, ``last-v1.ckpt``), from the newest valid
    checkpoint of the cairn folders beside it, with a warning on the ``cairn`` logger naming
    both; any other name raises CorruptDataError. It also reads one checkpoint folder
    (``<dir>/checkpoints/<name>``) and cairn's ``<dir>/best`` (weights only). ``weights_only`` is accepted and has nothing to do:
    cairn never unpickles. ``map_location``: a device (or ``{"cpu": device}``) to move tensors
    to. ``save_checkpoint`` refuses a committed checkpoint, a folder inside a cairn directory
    and one another writer keeps more in; ``remove_checkpoint`` deletes only a cairn folder
    holding nothing but what this plugin writes (``_lightning_folders`` checks both).
    """

    def save_checkpoint(self, checkpoint: Dict[str, Any], path: Any,
                        storage_options: Optional[Any] = None) -> None:
        folder = _folder(path)
        if storage_options is not None:
            raise InvalidArgumentError(f"{folder}: CairnCheckpointIO takes no storage_options")
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise InvalidArgumentError(f"{folder} is a file, not a cairn folder (written by "
                                       "another CheckpointIO?): remove it or save elsewhere")
        check_save_target(folder, own=folder in _writers)
        if folder in _writers or os.path.isdir(folder):
            _save(lambda: _writers.get(folder) or
                  Checkpointer(folder, num_serialized_models_to_keep=1), checkpoint)
        else:
            _save_new(folder, checkpoint)

    def load_checkpoint(self, path: Any, map_location: Optional[Any] = None,
                        weights_only: Optional[bool] = None) -> Dict[str, Any]:
        folder = _folder(path)
        if not os.path.exists(folder):
            raise FileNotFoundError(f"Checkpoint not found: {folder}")
        if not os.path.isdir(folder):
            raise InvalidArgumentError(f"{folder} is a file, not a cairn checkpoint folder: load "
                                       "it without CairnCheckpointIO")
        if os.path.isfile(os.path.join(folder, "MANIFEST.json")):
            return _moved(_read_one(folder), map_location)
        restored = _restore(folder) if _is_cairn_dir(folder) else None
        if restored is None and _is_last_name(os.path.basename(folder)):
            restored = self._newest_beside(folder)
        if restored is None:
            raise CorruptDataError(f"{folder} holds no cairn checkpoint that verifies")
        return _moved(from_pair(restored[0], restored[1], restored[2].path), map_location)

    @staticmethod
    def _newest_beside(folder: str) -> Tuple[Dict[str, Any], Dict[str, Any], Any]:
        """The newest valid checkpoint of the cairn folders beside ``folder``, which holds none:
        those Lightning named too (``*.ckpt``), never a directory of another run."""
        parent, seen, candidates = os.path.dirname(folder), {os.path.realpath(folder)}, []
        for entry in sorted(os.listdir(parent)):
            other = os.path.join(parent, entry)
            if not entry.endswith(ModelCheckpoint.FILE_EXTENSION) or \
                    os.path.realpath(other) in seen or not _is_cairn_dir(other):
                continue
            seen.add(os.path.realpath(other))
            for info in tools.list_directory(other).checkpoints:
                candidates.append((info.save_time, info.seq, other))
        for _, _, other in sorted(candidates, reverse=True):
            restored = _restore(other)
            if restored is not None:
                _logging.logger.warning("%s holds no checkpoint that verifies: resuming from %s "
                                        "(%s) instead", folder, other, restored[2].name)
                return restored
        raise CorruptDataError(f"{folder} holds no cairn checkpoint that verifies, and neither "
                               f"does any cairn folder beside it in {parent}")

    def remove_checkpoint(self, path: Any) -> None:
        folder = _folder(path)
        if os.path.islink(folder):  # save_last="link": Lightning's link, never its target
            if not _is_cairn_dir(folder):
                raise InvalidArgumentError(f"not removing {folder}: a link to something that is "
                                           "not a cairn folder")
            os.unlink(folder)
            return
        if not os.path.exists(folder):
            return
        if not os.path.isdir(folder) or not _is_cairn_dir(folder):
            raise InvalidArgumentError(f"not removing {folder}: it is not a cairn folder (no "
                                       "retention.json and checkpoints/), so cairn did not "
                                       "write it")
        foreign = foreign_entries(folder)
        listing = tools.list_directory(folder)
        if foreign:
            raise InvalidArgumentError(f"not removing {folder}: it holds what CairnCheckpointIO "
                                       f"did not write: {', '.join(foreign)}")
        if listing.writer_pid is not None or folder in _writers:
            raise LockedError(f"not removing {folder}: a writer (pid {listing.writer_pid}) "
                              "holds it")
        remove_out_of_sight(folder)


def _moved(checkpoint: Dict[str, Any], map_location: Any) -> Dict[str, Any]:
    if isinstance(map_location, dict):
        map_location = map_location.get("cpu")
    if map_location is None:
        return checkpoint
    if callable(map_location):
        raise InvalidArgumentError("CairnCheckpointIO restores tensors to the CPU; map_location "
                                   "may name a device, not be a function")
    device = torch.device(map_location)
    if device.type == "cpu":
        return checkpoint
    return apply_to_collection(checkpoint, torch.Tensor, lambda tensor: tensor.to(device))


class CairnModelCheckpoint(ModelCheckpoint):
    """A ``ModelCheckpoint`` that saves into one cairn serialization directory, ``dirpath``,
    where cairn's retention rules decide what is kept. Lightning decides when to save, as its
    ``ModelCheckpoint`` does; each save is one cairn checkpoint (the newest is always kept:
    there is no separate ``last.ckpt``) and ``fit(ckpt_path="last")`` resumes from the newest
    one in ``dirpath`` that verifies.

    Lightning's arguments that mean the same in cairn: ``dirpath`` (required), ``monitor``
    (cairn's ``metric``; a save where it improved is cairn's ``best``), ``mode``, ``save_top_k``
    (``keep_best_k`` with a monitor; -1 keeps all). When to save, as in ModelCheckpoint:
    ``every_n_train_steps``, ``train_time_interval``, ``every_n_epochs`` (here also together
    with one of those two), ``save_on_train_epoch_end``, ``verbose``; ``save_last`` None or
    True. cairn's own: ``num_serialized_models_to_keep`` (default 1; all with
    ``save_top_k=-1``), ``keep_every_n_epochs``, ``keep_serialized_model_every_num_seconds``.
    What it cannot honour raises InvalidArgumentError (docs/integrations.md lists it).

    Loading what it writes needs ``CairnCheckpointIO``: ``setup`` installs it in place of
    Lightning's default writer, and refuses any other. One process only.
    """

    _FIXED = {"filename": None, "auto_insert_metric_name": True, "enable_version_counter": True,
              "save_weights_only": False, "save_on_exception": False}
    _PASSED = ("verbose", "every_n_train_steps", "train_time_interval", "every_n_epochs",
               "save_on_train_epoch_end")

    def __init__(self, dirpath: Any, monitor: Optional[str] = None, mode: str = "min",
                 save_top_k: int = 1, *, num_serialized_models_to_keep: Optional[int] = None,
                 keep_every_n_epochs: Optional[int] = None,
                 keep_serialized_model_every_num_seconds: Optional[float] = None,
                 save_last: Optional[bool] = None, **lightning: Any) -> None:
        if dirpath is None:
            raise InvalidArgumentError("CairnModelCheckpoint needs dirpath: the cairn directory")
        unknown = sorted(set(lightning) - set(self._FIXED) - set(self._PASSED))
        if unknown:
            raise InvalidArgumentError(f"CairnModelCheckpoint takes no {', '.join(unknown)}")
        for name, value in lightning.items():
            if name in self._FIXED and value != self._FIXED[name]:
                raise InvalidArgumentError(f"CairnModelCheckpoint cannot honour {name}={value!r}")
        if save_last not in (None, True):
            raise InvalidArgumentError(f"CairnModelCheckpoint cannot honour save_last="
                                       f"{save_last!r}: every save is a last one")
        if num_serialized_models_to_keep == 0:
            raise InvalidArgumentError("CairnModelCheckpoint cannot honour "
                                       "num_serialized_models_to_keep=0: the newest checkpoint "
                                       "is always kept (it is what \"last\" resumes from)")
        if save_top_k == 0:
            raise InvalidArgumentError("CairnModelCheckpoint cannot honour save_top_k=0: cairn "
                                       "keeps the newest checkpoint (see "
                                       "num_serialized_models_to_keep)")
        passed = {name: value for name, value in lightning.items() if name in self._PASSED}
        # Saves inside epochs and at their ends, together: Lightning refuses the combination
        # in one ModelCheckpoint, yet each trigger is checked on its own hook.
        step_trigger = passed.get("every_n_train_steps") or passed.get("train_time_interval")
        every_n_epochs = passed.pop("every_n_epochs", None) if step_trigger else None
        super().__init__(dirpath=dirpath, monitor=monitor, mode=mode, save_top_k=save_top_k,
                         **passed)
        if every_n_epochs is not None:
            self._every_n_epochs = int(every_n_epochs)
        if num_serialized_models_to_keep is None:
            num_serialized_models_to_keep = -1 if save_top_k == -1 else 1
        self._retention = dict(
            num_serialized_models_to_keep=num_serialized_models_to_keep,
            keep_best_k=save_top_k if monitor and save_top_k > 0 else None,
            metric=monitor, mode=mode, keep_every_n_epochs=keep_every_n_epochs,
            keep_serialized_model_every_num_seconds=keep_serialized_model_every_num_seconds)
        self._checkpointer: Optional[Checkpointer] = None

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if trainer.world_size != 1:
            raise InvalidArgumentError(f"CairnModelCheckpoint runs in one process, not "
                                       f"{trainer.world_size}")
        strategy = trainer.strategy
        if strategy._checkpoint_io is None or type(strategy.checkpoint_io) is TorchCheckpointIO:
            strategy.checkpoint_io = CairnCheckpointIO()
        elif not isinstance(strategy.checkpoint_io, CairnCheckpointIO):
            raise InvalidArgumentError(
                f"CairnModelCheckpoint needs CairnCheckpointIO to load what it writes, and the "
                f"trainer has {type(strategy.checkpoint_io).__name__}")
        folder = _folder(self.dirpath)
        if stage == "fit" and folder not in _writers:
            self._checkpointer = Checkpointer(folder, **self._retention)
            _writers[folder] = self._checkpointer

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._release()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._release()  # Lightning tears callbacks down only after a fit that ended well

    def _release(self) -> None:
        """Lets go of the directory (its lock), once the saves in flight are durable."""
        if self._checkpointer is not None:
            _writers.pop(_folder(self.dirpath), None)
            checkpointer, self._checkpointer = self._checkpointer, None
            checkpointer.wait()

    def _find_last_checkpoints(self, trainer: Any) -> set:
        """``dirpath`` when it holds a checkpoint a restore would take: one the ledger records,
        or one a kill left published but not yet recorded (the next save adopts it)."""
        folder = _folder(self.dirpath)
        if not _is_cairn_dir(folder):
            return set()
        listing = tools.list_directory(folder)
        has_one = listing.checkpoints or \
            any(entry.kind == "not yet recorded" for entry in listing.others)
        return {folder} if has_one else set()

    def _save_last_checkpoint(self, trainer: Any, monitor_candidates: Dict[str, Any]) -> None:
        """Nothing to do: cairn always keeps the newest checkpoint."""

    def _save_topk_checkpoint(self, trainer: Any, monitor_candidates: Dict[str, Any]) -> None:
        """One cairn save, ranked by the monitored value when there is one: retention, not
        this callback, decides what is deleted."""
        if self._checkpointer is None:
            raise InvalidArgumentError("CairnModelCheckpoint saves only while fitting")
        metrics, improved = {}, False
        if self.monitor and self.monitor not in monitor_candidates:
            self._no_monitored_value(trainer, monitor_candidates)
        current = monitor_candidates.get(self.monitor) if self.monitor else None
        if current is not None:
            value = float(current)
            if math.isnan(value):  # as Lightning does: NaN ranks worst
                value = math.inf if self.mode == "min" else -math.inf
            metrics = {self.monitor: value}
            best = None if self.best_model_score is None else float(self.best_model_score)
            improved = best is None or (value < best if self.mode == "min" else value > best)
            self.current_score = torch.tensor(value)
            if improved:  # before the dump: this callback's state is part of the checkpoint
                self.best_model_score = torch.tensor(value)
                self.best_model_path = os.path.join(_folder(self.dirpath), "best")
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
        _save(lambda: self._checkpointer, checkpoint, is_best_so_far=improved, metrics=metrics)
        saved = self._checkpointer.list_checkpoints()[-1]
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = self.last_model_path = saved.path

    def _no_monitored_value(self, trainer: Any, monitor_candidates: Dict[str, Any]) -> None:
        """As ModelCheckpoint does: an error once validation has run (the key will never be
        there), before then a warning, and the save goes on without the metric."""
        message = (f"`ModelCheckpoint(monitor={self.monitor!r})` could not find the monitored key "
                   f"in the returned metrics: {list(monitor_candidates)}. HINT: Did you call "
                   f"`log({self.monitor!r}, value)` in the `LightningModule`?")
        if trainer.fit_loop.epoch_loop.val_loop._has_run:
            raise MisconfigurationException(message)
        rank_zero_warn(message)
