"""cairn.Checkpointer: AllenNLP 2.4's Checkpointer (same constructor, methods and argument names)
on cairn's C++ core, with its faults fixed and cairn's extensions (retention policies, explain,
listing). docs/retention.md and docs/format.md describe the rules and the directory.
"""
import atexit
import inspect
import os
import re
import sys
import weakref
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Type, Union

from . import _core, _logging, loop_state, sharding
from ._convert import checked_str, decode, encode
from .errors import Error, InvalidArgumentError
from .info import CheckpointInfo

# AllenNLP names intra-epoch saves "<epoch>.<time>", e.g. "3.2021-04-22-10-00-00".
_INTRA_EPOCH = re.compile(r"^(\d+)\.(.+)$")


# Every checkpointer alive, for the exit hook: saves still in flight when the interpreter exits
# must finish before it finalizes, after which Python ends any thread that asks for the GIL
# (as a save that logs does) and the process aborts.
_live_cores: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _finish_saves_in_flight() -> None:
    for core in list(_live_cores):
        try:
            core.wait()
        except Error as error:  # nobody is left to raise it to
            _logging.logger.warning("an asynchronous save failed: %s", error)
    _core.stop_logging_to_python()


# Registered after `logging` was imported (by _logging), so it runs before logging's own hook
# closes the handlers: hooks run last registered first.
atexit.register(_finish_saves_in_flight)


class RetentionDecision(NamedTuple):
    """What retention does (or would do) with one checkpoint, and why."""
    name: str
    keep: bool
    reason: str  # "kept: best 2 of 3 by val_loss (min) = 0.412", "deleted: outside the last 2, ..."


def _checkpoint_state(trainer: Any, entered: List[Any]) -> Tuple[Any, Any]:
    """The trainer's (model_state, training_state): returned directly, or yielded by a context
    manager as AllenNLP's trainers do (it stays entered until the save is written)."""
    if not hasattr(trainer, "get_checkpoint_state"):
        raise InvalidArgumentError(f"the trainer ({type(trainer).__name__}) has no "
                                   "get_checkpoint_state()")
    result = trainer.get_checkpoint_state()
    if hasattr(result, "__enter__") and hasattr(result, "__exit__"):
        pair = result.__enter__()
        entered.append(result)
    else:
        pair = result
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise InvalidArgumentError("get_checkpoint_state() must give a (model_state, "
                                   "training_state) pair")
    model_state, training_state = pair
    return encode(model_state, "model_state"), encode(training_state or {}, "training_state")


def _metric_values(metrics: Optional[Dict[str, float]]) -> Dict[str, float]:
    return {checked_str(str(k), "metrics"): float(v) for k, v in (metrics or {}).items()}


class Checkpointer:
    """Saves and restores training checkpoints in ``serialization_dir``.

    Two APIs on one implementation. The plain-loop one takes the training state as a dict of
    names to modules, optimizers, schedulers, scalers, ``cairn.RngState()`` and plain values:
    ``restore(state)`` (in place; returns a ``CheckpointInfo`` or None), ``maybe_save(state,
    epoch=, batches_this_epoch=)``, ``save(state, epoch=, is_best_so_far=, metrics=)`` and
    ``wait()``. The AllenNLP one takes a trainer with ``get_checkpoint_state()``:
    ``save_checkpoint``, ``maybe_save_checkpoint``, ``restore_checkpoint``, ``best_model_state``.

    The AllenNLP arguments:

    - ``num_serialized_models_to_keep`` (default 2): keep this many recent checkpoints; None or
      negative keeps all; 0 keeps none (``best`` survives).
    - ``keep_serialized_model_every_num_seconds``: besides those, keep one checkpoint for good
      every this many seconds.
    - ``model_save_interval``: ``maybe_save_checkpoint`` saves when this many seconds have passed.

    cairn's retention policies (a checkpoint is kept if any policy keeps it; the newest is
    always kept unless ``num_serialized_models_to_keep`` is 0): ``keep_best_k`` checkpoints with
    the best value of ``metric`` (``mode`` ``"min"`` or ``"max"``; the values are given to
    ``save_checkpoint``), and ``keep_every_n_epochs``.

    ``async_save=True``: a save returns once the state is copied into staging memory (reused
    from save to save; a state larger than ``async_staging_bytes`` is saved synchronously) and
    is written and committed on a background thread; ``wait()`` blocks until it is durable, and
    a failure in the background is raised by the next call.

    Fixed against AllenNLP: checkpoints are written atomically (whole or absent, also under
    ``kill -9``), with checksums; retention survives restarts and deletes only cairn's own
    checkpoints; the latest is the last saved; a damaged checkpoint is skipped on restore (with
    a warning on the ``cairn`` logger) for the newest valid one; one writer per directory
    (``LockedError``). Saving and restoring release the GIL.

    Subclasses registered with ``@Checkpointer.register("name")`` are built by
    ``Checkpointer.from_params({"type": "name", ...})``.
    """

    _registry: Dict[str, Type["Checkpointer"]] = {}
    default_implementation = "default"

    def __init__(self, serialization_dir: "os.PathLike[str] | str",
                 keep_serialized_model_every_num_seconds: Optional[float] = None,
                 num_serialized_models_to_keep: Optional[int] = 2,
                 model_save_interval: Optional[float] = None, *,
                 keep_best_k: Optional[int] = None, metric: Optional[str] = None,
                 mode: str = "min", keep_every_n_epochs: Optional[int] = None,
                 async_save: bool = False, async_staging_bytes: Optional[int] = None) -> None:
        self._serialization_dir = os.fspath(serialization_dir)
        self._core = _core.Checkpointer(
            self._serialization_dir, keep_serialized_model_every_num_seconds,
            num_serialized_models_to_keep, model_save_interval, keep_best_k, metric or "", mode,
            keep_every_n_epochs, bool(async_save), async_staging_bytes)
        _live_cores.add(self._core)

    @property
    def serialization_dir(self) -> str:
        return self._serialization_dir

    # ---- registration, AllenNLP-style ----

    @classmethod
    def register(cls, name: str) -> Callable[[Type["Checkpointer"]], Type["Checkpointer"]]:
        """Class decorator: ``from_params({"type": name, ...})`` builds the decorated subclass,
        passing the other keys to its constructor."""
        def add(subclass: Type["Checkpointer"]) -> Type["Checkpointer"]:
            if not (isinstance(subclass, type) and issubclass(subclass, Checkpointer)):
                raise InvalidArgumentError(f'Checkpointer.register("{name}") decorates a '
                                           "subclass of Checkpointer")
            Checkpointer._registry[name] = subclass
            return subclass
        return add

    @classmethod
    def from_params(cls, params: Dict[str, Any],
                    serialization_dir: "os.PathLike[str] | str | None" = None) -> "Checkpointer":
        """Builds a checkpointer from an AllenNLP-style config dict: ``{"type": "default",
        "num_serialized_models_to_keep": 3, ...}`` (``type`` may be left out). Unknown keys
        raise InvalidArgumentError naming them."""
        params = dict(params)
        name = params.pop("type", cls.default_implementation)
        registry = {cls.default_implementation: Checkpointer, **Checkpointer._registry}
        if name not in registry:
            raise InvalidArgumentError(f'checkpointer config: unknown type "{name}" (registered: '
                                       f"{', '.join(sorted(registry))})")
        subclass = registry[name]
        if serialization_dir is not None:
            params["serialization_dir"] = os.fspath(serialization_dir)
        signature = inspect.signature(subclass.__init__)
        accepted = {p.name for p in signature.parameters.values()
                    if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        takes_any = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
        unknown = sorted(set(params) - accepted)
        if unknown and not takes_any:
            raise InvalidArgumentError(f'checkpointer config for type "{name}": unknown '
                                       f"key(s) {', '.join(unknown)}")
        missing = sorted(p.name for p in signature.parameters.values()
                         if p.name != "self" and p.default is p.empty and p.name not in params
                         and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        if missing:
            raise InvalidArgumentError(f'checkpointer config for type "{name}": missing '
                                       f"{', '.join(missing)}")
        return subclass(**params)

    # ---- the plain-loop API ----

    def save(self, state: Dict[str, Any], *, epoch: int, is_best_so_far: bool = False,
             metrics: Optional[Dict[str, float]] = None,
             batches_this_epoch: Optional[int] = None) -> None:
        """Call at the end of epoch ``epoch`` (0-based): saves every entry of ``state``.
        ``metrics`` (name to number) are recorded and rank the checkpoint for ``keep_best_k``;
        with ``is_best_so_far`` its model becomes ``best``. ``batches_this_epoch``: a save made
        inside epoch ``epoch`` after that many batches, now (a loop that saves every n steps).
        A value cairn cannot store raises InvalidArgumentError naming its path before anything
        is written."""
        self._save_pair(lambda: loop_state.encoded(state), epoch, is_best_so_far, metrics,
                        batches_this_epoch)

    def _save_pair(self, get_state: Callable[[], Any], epoch: int, is_best_so_far: bool,
                   metrics: Optional[Dict[str, float]], batches_this_epoch: Optional[int]) -> None:
        values = _metric_values(metrics)
        if batches_this_epoch is None:
            self._core.save_checkpoint(int(epoch), get_state, bool(is_best_so_far), values)
        else:
            self._core.save_checkpoint_inside_epoch(get_state, int(epoch), int(batches_this_epoch),
                                                    bool(is_best_so_far), values)

    def maybe_save(self, state: Dict[str, Any], *, epoch: int, batches_this_epoch: int) -> bool:
        """Call after every batch: saves ``state`` as a save inside epoch ``epoch`` after
        ``batches_this_epoch`` batches, and returns True, when ``model_save_interval`` seconds
        have passed since the last timed save (or this checkpointer's construction)."""
        return self._core.maybe_save_checkpoint(lambda: loop_state.encoded(state), int(epoch),
                                                int(batches_this_epoch))

    def restore(self, state: Dict[str, Any], *, copy: bool = False) -> Optional[CheckpointInfo]:
        """Restores the newest checkpoint that verifies into ``state``; returns what it restored,
        or None (``state`` untouched) when there is none. Training resumes at
        ``info.resume_epoch``, skipping its first ``info.resume_batches`` batches.

        In place: parameters, buffers and optimizer moments are overwritten where they live,
        verified, with no second copy of their bytes. Entries without such memory get tensors
        that view a private copy-on-write mapping of the file (``copy=True``: tensors of their
        own), through their ``load_state_dict``; plain values are replaced in ``state``. A
        name of ``state`` the checkpoint lacks raises InvalidArgumentError before any entry's
        ``load_state_dict`` runs (tensors restored in place already hold the checkpoint's
        bytes)."""
        model_targets, training_targets, sources = loop_state.targets(state)
        model, training, info = self._core.restore_checkpoint_into(model_targets,
                                                                   training_targets)
        if model is None:
            return None
        checkpoint = CheckpointInfo._from_core(info)
        loop_state.put_back(state, decode(model, None, copy),
                            loop_state.training_values(decode(training, None, copy)),
                            sources, checkpoint.name)
        return checkpoint

    # ---- the AllenNLP API: saving ----

    def _with_state(self, trainer: Any, save: Callable[[Callable[[], Any]], Any]) -> Any:
        entered: List[Any] = []
        try:
            return save(lambda: _checkpoint_state(trainer, entered))
        finally:
            for context in reversed(entered):
                context.__exit__(*sys.exc_info())

    def maybe_save_checkpoint(self, trainer: Any, epoch: int, batches_this_epoch: int) -> bool:
        """Call after every batch: saves, and returns True, when ``model_save_interval`` seconds
        have passed since this checkpointer's last timed save (or its construction)."""
        return self._with_state(trainer, lambda get: self._core.maybe_save_checkpoint(
            get, int(epoch), int(batches_this_epoch)))

    def save_checkpoint(self, epoch: Union[int, str], trainer: Any, is_best_so_far: bool = False,
                        metrics: Optional[Dict[str, float]] = None, *,
                        batches_this_epoch: Optional[int] = None) -> None:
        """Call at the end of epoch ``epoch`` (0-based). ``metrics`` (name to number) are
        recorded and rank the checkpoint for ``keep_best_k``. ``batches_this_epoch``: a save
        made inside epoch ``epoch`` after that many batches, now.

        An AllenNLP intra-epoch string such as ``"3.2021-04-22-10-00-00"`` saves a checkpoint
        inside epoch 3 with no batch count: restoring it repeats epoch 3 from its start.
        """
        if isinstance(epoch, str):
            match = _INTRA_EPOCH.match(epoch)
            if match:
                epoch, batches_this_epoch = int(match.group(1)), 0
            elif not epoch.isdigit():
                raise InvalidArgumentError(f'epoch "{epoch}" is neither a number nor AllenNLP\'s '
                                           '"<epoch>.<time>"')
        self._with_state(trainer, lambda get: self._save_pair(
            get, int(epoch), is_best_so_far, metrics, batches_this_epoch))

    # ---- the AllenNLP API: finding and restoring ----

    def find_latest_checkpoint(self) -> Optional[Tuple[str, str]]:
        """``(model_path, training_state_path)`` of the newest checkpoint that verifies, or
        None."""
        return self._core.find_latest_checkpoint()

    def restore_checkpoint(self, tensor_type: Optional[str] = None,
                           copy: bool = False) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """``(model_state, training_state)`` of the newest valid checkpoint; two empty dicts when
        there is none. ``training_state["epoch"]`` is the epoch; ``"batches_this_epoch"`` is set
        for a save made inside an epoch (continue that epoch after that many batches; without
        it, start epoch + 1).

        ``tensor_type``: ``"torch"`` (the default when torch is installed) or ``"numpy"``.
        ``copy=False`` (default): tensors view a private copy-on-write mapping of the files (no
        copy), verified, writable: a write changes this process's memory only, never the
        checkpoint; they stay valid while referenced, even after the checkpoint is deleted.
        ``copy=True``: tensors that own their memory.
        """
        model_state, training_state = self._core.restore_checkpoint()
        if model_state is None:
            return {}, {}
        return decode(model_state, tensor_type, copy), decode(training_state, tensor_type, copy)

    def restore_shards(self, slices: Dict[Any, sharding.Box], tensor_type: Optional[str] = None,
                       copy: bool = False) -> sharding.RestoredShards:
        """As ``restore_checkpoint``, with each sharded tensor of a sharded checkpoint cut to the
        box ``slices`` asks for: ``{path: (offsets, shape)}``, a path being a tuple of keys
        (``("model_state", "fc.weight")``) or the same joined by ``/``. A sharded tensor not
        named comes whole; only the bytes of the boxes are read. A box outside its tensor, or a
        path that is not a sharded tensor of the checkpoint, raises InvalidArgumentError naming
        it. ``tensor_type`` and ``copy`` as for ``restore_checkpoint`` (the boxes always own
        their memory)."""
        model, training, placed, info = self._core.restore_shards(sharding.core_request(slices))
        if model is None:
            return sharding.RestoredShards({}, {}, {}, None)
        return sharding.RestoredShards(
            decode(model, tensor_type, copy), decode(training, tensor_type, copy),
            {path: sharding.Shard(*where) for path, where in placed.items()},
            CheckpointInfo._from_core(info))

    def best_model_state(self, tensor_type: Optional[str] = None,
                         copy: bool = False) -> Dict[str, Any]:
        """The model state of the last save with ``is_best_so_far``; an empty dict when none.
        ``tensor_type`` and ``copy`` as for ``restore_checkpoint``."""
        state = self._core.best_model_state()
        return {} if state is None else decode(state, tensor_type, copy)

    # ---- cairn's extensions ----

    def list_checkpoints(self) -> List[CheckpointInfo]:
        """Every checkpoint cairn keeps here, oldest first."""
        return [CheckpointInfo._from_core(info) for info in self._core.list_checkpoints()]

    def last_restored(self) -> Optional[CheckpointInfo]:
        """The checkpoint the last restore (of either API) read; None before one, or when it
        found none."""
        info = self._core.last_restored()
        return None if info is None else CheckpointInfo._from_core(info)

    def explain_retention(self) -> List[RetentionDecision]:
        """For every checkpoint cairn wrote here, what this checkpointer's retention policies
        decide and why; deletes nothing."""
        return [RetentionDecision(*decision) for decision in self._core.explain_retention()]

    def wait(self) -> None:
        """Blocks until every save is durable; raises the failure of an asynchronous save."""
        self._core.wait()
