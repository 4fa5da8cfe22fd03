"""cairn.transformers: a Hugging Face ``Trainer`` whose checkpoints are cairn's.

    trainer = cairn.transformers.CairnTrainer(model=model, args=args, train_dataset=train,
                                              eval_dataset=val)    # instead of Trainer(...)
    trainer.train(resume_from_checkpoint=True)  # the newest valid checkpoint, or from scratch

The Trainer decides when to save, as always (``save_strategy``, ``save_steps``, the save at the
end of training); each save becomes one cairn checkpoint in ``args.output_dir``: the model's
``state_dict()``, the optimizer, the LR scheduler, the gradient scaler (when there is one), the
random generators (``cairn.RngState``: Python, NumPy, torch CPU and CUDA) and the
``TrainerState`` (global step, epoch, log history, best metric, stateful callbacks) as plain
values, never pickled; no ``checkpoint-N/``, ``optimizer.pt``, ``rng_state.pth`` and the like
is written. A resumed run takes the TrainerState back and the Trainer's own resume logic does
the rest: it continues at the saved global step, skipping the batches already trained on.

Retention is cairn's (docs/retention.md), replacing the Trainer's ``save_total_limit``
rotation: ``save_total_limit`` becomes ``num_serialized_models_to_keep`` (None or <= 0 keeps
all, as in the Trainer); with ``metric_for_best_model`` the best ``keep_best_k`` (default 1)
checkpoints by it are kept too (``greater_is_better`` gives the mode), each save carrying the
eval metrics logged at its step; ``keep_every_n_epochs`` and
``keep_serialized_model_every_num_seconds`` are keyword arguments of ``CairnTrainer``. A new
best (``TrainerState.best_global_step`` is the step saved) is also cairn's ``best/`` model, and
``best_model_checkpoint`` is that link, so ``load_best_model_at_end`` loads it.

Why a Trainer subclass and not a ``TrainerCallback`` (the contract's ``CairnCallback``): a
callback can ask for a save (``control.should_save``), but the save is then the Trainer's own
``_save_checkpoint``, which torch.saves the optimizer, scheduler, RNG and arguments; and on
resume the point to continue from (epochs trained, batches to skip) is computed in
``_inner_training_loop`` from the checkpoint's trainer_state.json before any callback runs
(``on_train_begin`` comes after). So the mixin overrides the Trainer's few checkpoint methods
(``_save_checkpoint``, the ``_load_*`` ones, ``_init_training_state``) and the resume argument
of ``train``; the training loop stays the Trainer's. These are private methods of transformers
5.23.0: importing this module checks they exist. ``CairnTrainerMixin`` goes before any Trainer
subclass (``class MyTrainer(CairnTrainerMixin, Seq2SeqTrainer)``).

Refused (InvalidArgumentError): several processes, DeepSpeed, FSDP, ``push_to_hub``,
``save_only_model``, ``train(trial=...)``, a path in ``resume_from_checkpoint``.
"""
import dataclasses
import os
from typing import Any, Dict, Optional

import transformers
from transformers.trainer_callback import ExportableState, TrainerState
from transformers.trainer_utils import compare_trainer_and_checkpoint_args

from . import _logging
from ._pair import restore_pair, save_pair, tied_names
from .checkpointer import Checkpointer
from .errors import InvalidArgumentError
from .info import CheckpointInfo
from .rng import RngState

# The private Trainer methods overridden or called below: their presence is checked here.
_PRIVATE = ("_save_checkpoint", "_init_training_state", "_inner_training_loop",
            "_load_optimizer_and_scheduler", "_load_scaler", "_load_rng_state",
            "_load_best_model", "_load_callback_state", "_finalize_training")
_missing = [name for name in _PRIVATE if not hasattr(transformers.Trainer, name)]
if _missing:
    raise ImportError(f"cairn.transformers needs Trainer.{', Trainer.'.join(_missing)}, which "
                      f"transformers {transformers.__version__} lacks (written for 5.23.0)")

_FROM_ARGS = object()  # num_serialized_models_to_keep not given: save_total_limit's


def _retention(args: Any, keep: Any, keep_best_k: Optional[int], keep_every_n_epochs:
               Optional[int], keep_seconds: Optional[float]) -> Dict[str, Any]:
    """cairn.Checkpointer's retention arguments from the TrainingArguments and CairnTrainer's."""
    limit = args.save_total_limit
    limit = None if limit is None or limit <= 0 else limit  # the Trainer keeps all then
    if keep is _FROM_ARGS:
        keep = limit
    elif args.save_total_limit is not None and keep != limit:
        raise InvalidArgumentError(
            f"save_total_limit={args.save_total_limit} and num_serialized_models_to_keep={keep} "
            "disagree: cairn's retention replaces save_total_limit, give one of them")
    options = {"num_serialized_models_to_keep": keep, "keep_every_n_epochs": keep_every_n_epochs,
               "keep_serialized_model_every_num_seconds": keep_seconds}
    if args.metric_for_best_model:
        options.update(keep_best_k=1 if keep_best_k is None else keep_best_k,
                       metric=_metric_name(args), mode="max" if args.greater_is_better else "min")
    elif keep_best_k:
        raise InvalidArgumentError("keep_best_k ranks checkpoints by "
                                   "TrainingArguments.metric_for_best_model, which is not set")
    return options


def _metric_name(args: Any) -> str:
    """The key the Trainer's evaluation logs the metric under (as _determine_best_metric)."""
    name = args.metric_for_best_model
    return name if name.startswith("eval_") else f"eval_{name}"


def _refuse_unsupported(trainer: Any) -> None:
    args = trainer.args
    for refused, why in ((args.world_size > 1, f"{args.world_size} processes"),
                         (trainer.is_deepspeed_enabled, "DeepSpeed"),
                         (trainer.is_fsdp_enabled, "FSDP"),
                         (args.push_to_hub, "push_to_hub=True"),
                         (args.save_only_model, "save_only_model=True (a checkpoint that cannot "
                                                "resume)"),
                         # The batch size it found is not restored yet: a resumed run that
                         # fits another one would skip the wrong batches.
                         (args.auto_find_batch_size, "auto_find_batch_size=True")):
        if refused:
            raise InvalidArgumentError(f"cairn.transformers saves single-process checkpoints; "
                                       f"not with {why}")


def _model_state(model: Any) -> Dict[str, Any]:
    state = model.state_dict()
    tied = tied_names(state)  # saved once, under the first name, as save_pretrained does
    return {name: tensor for name, tensor in state.items() if name not in tied}


def _load_model_state(model: Any, saved: Dict[str, Any], where: str) -> None:
    """Loads what _model_state saved; the tied names get their tensor through the first."""
    result = model.load_state_dict(saved, strict=False)
    missing = set(result.missing_keys) - set(tied_names(model.state_dict()))
    if missing or result.unexpected_keys:
        raise InvalidArgumentError(
            f"{where} does not fit the {type(model).__name__}: missing "
            f"{', '.join(sorted(missing)) or 'nothing'}; unexpected "
            f"{', '.join(sorted(result.unexpected_keys)) or 'nothing'}")


class CairnTrainerMixin:
    """Put first among the bases of a ``transformers.Trainer`` subclass: its checkpoints become
    cairn's (see the module's docstring). Keyword arguments, besides the Trainer's:
    ``num_serialized_models_to_keep`` (default: ``args.save_total_limit``), ``keep_best_k``
    (by ``args.metric_for_best_model``; default 1 when that is set), ``keep_every_n_epochs``,
    ``keep_serialized_model_every_num_seconds``."""

    def __init__(self, *args: Any, num_serialized_models_to_keep: Any = _FROM_ARGS,
                 keep_best_k: Optional[int] = None, keep_every_n_epochs: Optional[int] = None,
                 keep_serialized_model_every_num_seconds: Optional[float] = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _refuse_unsupported(self)
        self._cairn_options = _retention(self.args, num_serialized_models_to_keep, keep_best_k,
                                         keep_every_n_epochs,
                                         keep_serialized_model_every_num_seconds)
        self._cairn: Optional[Checkpointer] = None
        self._cairn_restored: Optional[tuple] = None
        self._cairn_steps_per_epoch: Optional[int] = None
        self.cairn_resumed_from: Optional[CheckpointInfo] = None  # the last train()'s checkpoint

    def cairn_checkpointer(self) -> Checkpointer:
        """The cairn.Checkpointer of ``args.output_dir`` (it holds the directory's lock during
        ``train``; made again when needed after)."""
        if self._cairn is None:
            self._cairn = Checkpointer(self.args.output_dir, **self._cairn_options)
        return self._cairn

    # ---- resuming ----

    def train(self, resume_from_checkpoint: Any = None, trial: Any = None, **kwargs: Any) -> Any:
        """``Trainer.train``; ``resume_from_checkpoint=True`` restores the newest valid cairn
        checkpoint of ``args.output_dir`` (a damaged newer one is skipped with a warning on the
        ``cairn`` logger) and trains from scratch when there is none; None or False trains from
        scratch (cairn's retention still sees the older checkpoints)."""
        if isinstance(resume_from_checkpoint, (str, os.PathLike)):
            raise InvalidArgumentError(
                f"resume_from_checkpoint={os.fspath(resume_from_checkpoint)!r}: cairn resumes from "
                "the newest valid checkpoint of args.output_dir; pass True")
        if trial is not None:
            raise InvalidArgumentError("cairn.transformers does not checkpoint hyperparameter "
                                       "searches (train(trial=...))")
        try:
            restored = restore_pair(self.cairn_checkpointer()) if resume_from_checkpoint else None
            self._cairn_restored = restored  # loaded by _init_training_state and _load_*
            self.cairn_resumed_from = None if restored is None else restored[2]
            return super().train(None, trial, **kwargs)
        finally:
            self._cairn_restored = None
            self._cairn = None  # lets go of the directory

    def _inner_training_loop(self, *args: Any, resume_from_checkpoint: Any = None,
                             **kwargs: Any) -> Any:
        # The Trainer skips the batches already trained on only when resuming from a checkpoint:
        # the restored one's folder stands for it (nothing is read from it by path).
        if self._cairn_restored is not None:
            resume_from_checkpoint = self._cairn_restored[2].path
        return super()._inner_training_loop(*args, resume_from_checkpoint=resume_from_checkpoint,
                                            **kwargs)

    def _finalize_training(self, *args: Any, **kwargs: Any) -> Any:
        # With save_total_limit=1 the Trainer ends by deleting every checkpoint-* folder of
        # output_dir but the best: retention is cairn's, and such folders (of a run without
        # cairn) are not this trainer's to delete.
        limit, self.args.save_total_limit = self.args.save_total_limit, None
        try:
            return super()._finalize_training(*args, **kwargs)
        finally:
            self.args.save_total_limit = limit

    def _init_training_state(self, max_steps: int, num_update_steps_per_epoch: int,
                             num_train_epochs: int, resume_from_checkpoint: Any,
                             trial: Any) -> Any:
        self._cairn_steps_per_epoch = num_update_steps_per_epoch
        if self._cairn_restored is None:
            return super()._init_training_state(max_steps, num_update_steps_per_epoch,
                                                num_train_epochs, resume_from_checkpoint, trial)
        # After model_init made the model, before accelerate prepares it.
        model_state, training, info = self._cairn_restored
        _load_model_state(self.model, model_state, info.path)
        # What the Trainer does with a checkpoint's trainer_state.json, from cairn's copy.
        self.state = TrainerState(**training["trainer_state"])
        if self.state.best_model_checkpoint and not os.path.isdir(self.state.best_model_checkpoint):
            self.state.best_model_checkpoint = None
        compare_trainer_and_checkpoint_args(self.args, self.state)
        self._load_callback_state()
        self.state.init_training_references(self, max_steps, num_train_epochs, trial)
        epochs_trained, steps = divmod(self.state.global_step, num_update_steps_per_epoch)
        if self.args.ignore_data_skip:
            return epochs_trained, 0
        return epochs_trained, steps * self.args.gradient_accumulation_steps

    def _restored_training(self, checkpoint: Any) -> Optional[Dict[str, Any]]:
        """The restored training state when the Trainer asks for the restored checkpoint."""
        restored = self._cairn_restored
        return restored[1] if restored is not None and checkpoint == restored[2].path else None

    def _load_optimizer_and_scheduler(self, checkpoint: Any) -> None:
        training = self._restored_training(checkpoint)
        if training is None:
            return super()._load_optimizer_and_scheduler(checkpoint)
        self.optimizer.load_state_dict(training["optimizer"])
        self.lr_scheduler.load_state_dict(training["scheduler"])

    def _load_scaler(self, checkpoint: Any) -> None:
        training = self._restored_training(checkpoint)
        if training is None:
            return super()._load_scaler(checkpoint)
        scaler = getattr(self.accelerator, "scaler", None)
        if scaler is not None and "scaler" in training:
            scaler.load_state_dict(training["scaler"])

    def _load_rng_state(self, checkpoint: Any) -> None:
        training = self._restored_training(checkpoint)
        if training is None:
            return super()._load_rng_state(checkpoint)
        RngState().load_state_dict(training["rng"])

    def _load_best_model(self) -> None:
        best = self.cairn_checkpointer().best_model_state()
        if not best:
            _logging.logger.warning("load_best_model_at_end: %s holds no best model",
                                    self.args.output_dir)
            return
        _load_model_state(self.model, best, os.path.join(self.args.output_dir, "best"))

    # ---- saving ----

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """One cairn checkpoint of the model, optimizer, scheduler, scaler, generators and
        TrainerState at this step; retention is cairn's."""
        if self.hp_search_backend is None and trial is None:
            self.store_flos()
        state = self.state
        is_best = state.best_global_step is not None and state.best_global_step == state.global_step
        if is_best:
            state.best_model_checkpoint = os.path.join(self.args.output_dir, "best")
        exportable = [callback for callback in self.callback_handler.callbacks + [self.control]
                      if isinstance(callback, ExportableState)]
        state.stateful_callbacks = TrainerState(stateful_callbacks=exportable).stateful_callbacks
        training = {"optimizer": self.optimizer.state_dict(),
                    "scheduler": self.lr_scheduler.state_dict(),
                    "rng": RngState().state_dict(), "trainer_state": dataclasses.asdict(state)}
        scaler = getattr(self.accelerator, "scaler", None)
        if scaler is not None:
            training["scaler"] = scaler.state_dict()
        save_pair(self.cairn_checkpointer(), _model_state(self.model), training,
                  **self._position(), is_best_so_far=is_best, metrics=self._metrics_of_this_step())

    def _position(self) -> Dict[str, Any]:
        """Where the save is in cairn's terms: a save after a whole number of epochs is the end
        of the last one; otherwise inside an epoch after so many batches. (The Trainer resumes
        from the global step alone; this names the checkpoint and feeds keep_every_n_epochs.)"""
        epochs, steps = divmod(self.state.global_step, self._cairn_steps_per_epoch or 1)
        if steps == 0 and epochs > 0:
            return {"epoch": epochs - 1, "batches_this_epoch": None}
        return {"epoch": epochs,
                "batches_this_epoch": steps * self.args.gradient_accumulation_steps}

    def _metrics_of_this_step(self) -> Optional[Dict[str, float]]:
        """The eval metrics the Trainer logged at this step, if it evaluated."""
        for entry in reversed(self.state.log_history):
            if entry.get("step") != self.state.global_step:
                break
            metrics = {key: float(value) for key, value in entry.items()
                       if key.startswith("eval_") and isinstance(value, (int, float))}
            if metrics:
                return metrics
        return None


class CairnTrainer(CairnTrainerMixin, transformers.Trainer):
    """``transformers.Trainer`` with cairn's checkpoints (see CairnTrainerMixin)."""
