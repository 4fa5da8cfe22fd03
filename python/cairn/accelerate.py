"""cairn.accelerate: what Hugging Face Accelerate's ``save_state``/``load_state`` keep, saved as
one atomic cairn checkpoint with no pickle, with cairn's retention and fallback.

    state = cairn.accelerate.CairnState(accelerator, "runs/x", num_serialized_models_to_keep=2)
    info = state.load()      # after accelerator.prepare(...); None when there is no checkpoint
    ...
    state.save(epoch=epoch, batches_this_epoch=step + 1)   # inside an epoch
    state.save(epoch=epoch, metrics={"val_loss": loss})    # at its end

Why a helper, and not ``accelerator.save_state()`` behind Accelerate's hooks: the hook
registered with ``register_save_state_pre_hook`` sees only the models, their weights and the
output folder. After it returns, ``save_state`` writes the optimizers, schedulers, samplers and
the scaler with ``torch.save`` (pickles) whatever the hook does, ``random_states_<rank>.pkl``
always, and ``custom_checkpoint_<i>.pkl`` for every registered object; file by file into a
folder with no commit, and ``load_state`` (automatic naming) takes the folder with the largest
number, valid or not. Keeping those pickles out would mean emptying Accelerate's private lists
of prepared objects around its call or replacing its functions: silent monkeypatching that
breaks with its next release. So this helper reads those lists (``accelerator._models``,
``_optimizers``, ``_schedulers``, ``_dataloaders``, ``_custom_objects``; never writes them) and
saves what ``save_state`` would through ``cairn.Checkpointer``.

What one checkpoint holds: the model file, each prepared model's weights (unwrapped, as
``accelerator.get_state_dict`` gives them) under ``model``, ``model_1``, ...; the training
state, each optimizer (``optimizer``, ``optimizer_1``, ...), scheduler (``scheduler``, ...), the
gradient scaler (``scaler``), every object given to ``register_for_checkpointing``
(``custom_0``, ...), the random generators (``rng``: Python, NumPy, torch CPU, CUDA when
present) and ``accelerate``: ``accelerator.step`` and, for each prepared dataloader, the pass
it is in (``iteration``), the seed of a ``SeedableRandomSampler`` and the state of its
sampler's own ``torch.Generator``. cairn records the epoch and the batches done in it.

The order of a resumed epoch: a ``torch.utils.data.RandomSampler`` (Accelerate's default)
draws an epoch's whole order from its generator at the epoch's first batch, so a save inside
the epoch only sees that generator after the draw, and no saved state gives the rest of that
epoch back (Accelerate's own ``save_state`` neither). With ``DataLoaderConfiguration(
use_seedable_sampler=True)`` the order of epoch ``e`` is a function of (seed, ``e``): call
``dataloader.set_epoch(epoch)`` at the start of every epoch and a resumed epoch replays it.
(The loader ``skip_first_batches`` returns counts its own passes, so the original one never
learns that the resumed epoch ended.) Give the DataLoader a ``generator`` of its own too: torch
draws a seed from it, or else from the global generator dropout draws from, whenever an epoch
starts, and a resumed epoch starts once more than the uninterrupted one did.

Several processes: every process calls ``save``/``load``; only the main one writes, the others
return at once (a process that never saves takes no lock). Every process restores the main
one's checkpoint, its random generators included. FSDP, DeepSpeed, Megatron-LM and XLA shard
or wrap the state in ways this helper does not gather: it refuses them.
"""
import os
from typing import Any, Dict, List, Optional

import accelerate  # the Hugging Face package: absolute, never this module
import torch
from accelerate.data_loader import SeedableRandomSampler

from ._logging import logger
from .checkpointer import Checkpointer
from .errors import InvalidArgumentError
from .info import CheckpointInfo
from .rng import RngState, _byte_tensor

_SHARDED = ("DEEPSPEED", "FSDP", "MEGATRON_LM", "XLA")
# The Accelerator's private lists of what it prepared, read (never written) by CairnState:
# checked when one is made, so that another Accelerate fails at once and says why.
_PREPARED = ("_models", "_optimizers", "_schedulers", "_dataloaders", "_custom_objects")


def _named(prefix: str, index: int) -> str:
    """Accelerate's file names without the suffix: ``model``, ``model_1``, ..."""
    return prefix if index == 0 else f"{prefix}_{index}"


class CairnState:
    """Saves and restores what ``accelerator.save_state``/``load_state`` would, as cairn
    checkpoints in ``directory``.

    ``options`` are ``cairn.Checkpointer``'s: ``num_serialized_models_to_keep`` (default 2),
    ``keep_serialized_model_every_num_seconds``, ``keep_best_k`` with ``metric`` and ``mode``,
    ``keep_every_n_epochs``, ``model_save_interval`` (for ``maybe_save``), ``async_save``. They
    replace ``ProjectConfiguration``'s ``total_limit`` and ``automatic_checkpoint_naming``,
    which do not apply here. Create it after ``accelerator.prepare(...)`` and
    ``register_for_checkpointing(...)``: each save and load takes the objects registered then.
    """

    def __init__(self, accelerator: "accelerate.Accelerator",
                 directory: "os.PathLike[str] | str", **options: Any) -> None:
        missing = [name for name in _PREPARED if not isinstance(getattr(accelerator, name, None),
                                                                 list)]
        if missing:
            raise InvalidArgumentError(
                f"cairn.accelerate reads the Accelerator's {', '.join(missing)}, which accelerate "
                f"{accelerate.__version__} does not have as lists (written for 1.15.0)")
        kind = getattr(accelerator.distributed_type, "value", str(accelerator.distributed_type))
        if kind in _SHARDED:
            raise InvalidArgumentError(f"cairn.accelerate does not save {kind} runs (their state "
                                       "is sharded or wrapped): use accelerator.save_state")
        if accelerator.project_configuration.total_limit is not None:
            logger.warning("ProjectConfiguration(total_limit=%s) does not apply to cairn's "
                           "checkpoints in %s: pass num_serialized_models_to_keep",
                           accelerator.project_configuration.total_limit, os.fspath(directory))
        self._accelerator = accelerator
        self.checkpointer = Checkpointer(directory, **options)

    def save(self, *, epoch: int, batches_this_epoch: Optional[int] = None,
             is_best_so_far: bool = False, metrics: Optional[Dict[str, float]] = None) -> None:
        """Saves everything (see the module's docstring) as one checkpoint: at the end of
        ``epoch`` (0-based), or inside it after ``batches_this_epoch`` batches. ``metrics``
        rank it for ``keep_best_k``. Only the main process writes. A value cairn cannot store
        (in a registered object's state, say) raises InvalidArgumentError naming its key
        (``custom_0.vocab``) before anything is written."""
        if self._accelerator.is_main_process:
            self.checkpointer.save(self._state(), epoch=epoch, is_best_so_far=is_best_so_far,
                                   metrics=metrics, batches_this_epoch=batches_this_epoch)

    def maybe_save(self, *, epoch: int, batches_this_epoch: int) -> bool:
        """Call after every batch: saves inside ``epoch`` when ``model_save_interval`` seconds
        have passed since the last timed save; True when it saved (always False on processes
        other than the main one)."""
        if not self._accelerator.is_main_process:
            return False
        return self.checkpointer.maybe_save(self._state(), epoch=epoch,
                                            batches_this_epoch=batches_this_epoch)

    def load(self) -> Optional[CheckpointInfo]:
        """Restores the newest checkpoint that verifies (a damaged newer one is skipped with a
        warning on the ``cairn`` logger) into the prepared objects, in place, and returns it:
        training resumes at ``info.resume_epoch`` after skipping ``info.resume_batches``
        batches (``accelerator.skip_first_batches``). None, with nothing changed, when there is
        no checkpoint."""
        state = self._state()
        info = self.checkpointer.restore(state)
        if info is None:
            return None
        saved = state["accelerate"]
        loaders: List[Any] = self._accelerator._dataloaders
        if len(saved["dataloaders"]) != len(loaders):
            raise InvalidArgumentError(f"checkpoint {info.name} holds {len(saved['dataloaders'])} "
                                       f"dataloaders' state, {len(loaders)} are prepared")
        self._accelerator.step = int(saved["step"])
        for loader, loader_state in zip(loaders, saved["dataloaders"]):
            _restore_loader(loader, loader_state)
            if info.resume_batches and _draws_order_at_first_batch(loader):
                logger.warning("resuming inside epoch %d: %s draws an epoch's order at its first "
                               "batch, before the checkpoint, so the rest of the epoch comes in "
                               "another order unless its generator is seeded per epoch; use "
                               "DataLoaderConfiguration(use_seedable_sampler=True) for the same",
                               info.resume_epoch, type(loader.get_sampler()).__name__)
        return info

    def wait(self) -> None:
        """Blocks until every save is durable (``async_save=True``)."""
        self.checkpointer.wait()

    def _state(self) -> Dict[str, Any]:
        """The plain-loop state of ``cairn.Checkpointer``: names to the live objects."""
        accelerator = self._accelerator
        state: Dict[str, Any] = {}
        for index, model in enumerate(accelerator._models):
            state[_named("model", index)] = accelerator.unwrap_model(model)
        for index, optimizer in enumerate(accelerator._optimizers):
            state[_named("optimizer", index)] = optimizer
        for index, scheduler in enumerate(accelerator._schedulers):
            state[_named("scheduler", index)] = scheduler
        if accelerator.scaler is not None:
            state["scaler"] = accelerator.scaler
        for index, custom in enumerate(accelerator._custom_objects):
            state[f"custom_{index}"] = custom
        state["rng"] = RngState()
        state["accelerate"] = {"step": int(accelerator.step),
                               "dataloaders": [_loader_state(loader)
                                               for loader in accelerator._dataloaders]}
        return state


def _loader_state(loader: Any) -> Dict[str, Any]:
    """What Accelerate tracks of a prepared dataloader's position and order."""
    state: Dict[str, Any] = {"iteration": int(getattr(loader, "iteration", 0))}
    sampler = loader.get_sampler() if hasattr(loader, "get_sampler") else None
    if isinstance(sampler, SeedableRandomSampler):
        state["seed"] = int(sampler.initial_seed)
    generator = getattr(sampler, "generator", None)
    if isinstance(generator, torch.Generator):
        state["generator"] = generator.get_state()
    return state


def _restore_loader(loader: Any, state: Dict[str, Any]) -> None:
    sampler = loader.get_sampler() if hasattr(loader, "get_sampler") else None
    if "seed" in state and isinstance(sampler, SeedableRandomSampler):
        sampler.initial_seed = int(state["seed"])
    generator = getattr(sampler, "generator", None)
    if "generator" in state and isinstance(generator, torch.Generator):
        generator.set_state(_byte_tensor(torch, state["generator"]))
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(int(state["iteration"]))  # the pass, and the sampler's epoch


def _draws_order_at_first_batch(loader: Any) -> bool:
    sampler = loader.get_sampler() if hasattr(loader, "get_sampler") else None
    return isinstance(sampler, torch.utils.data.RandomSampler) and \
        not isinstance(sampler, SeedableRandomSampler)
