"""A ready pair of trees, (model_state, training_state), saved and restored through a Checkpointer.

The framework integrations (cairn.lightning, cairn.transformers, cairn.accelerate) get the
framework's own checkpoint as nested dicts of tensors and plain values, where the plain-loop API
takes modules and optimizers: save_pair saves such a pair as one checkpoint, restore_pair gives
it back with the checkpoint it came from, and tied_names finds the second names of a tensor.
"""
from typing import Any, Dict, Optional, Tuple

from ._convert import encode
from .info import CheckpointInfo
from .loop_state import training_values


def tied_names(state_dict: Dict[str, Any]) -> Dict[str, str]:
    """{name: the earlier name of the same tensor} for each second name of a tensor in a
    state_dict (GPT-2's ``lm_head.weight`` is ``transformer.wte.weight``): the integrations
    write such a tensor once, under its first name, as ``torch.save`` and ``save_pretrained``
    do."""
    first: Dict[Any, str] = {}
    tied: Dict[str, str] = {}
    for name, value in state_dict.items():
        if not hasattr(value, "data_ptr") or value.numel() == 0:
            continue
        key = (value.device, value.data_ptr(), value.dtype, tuple(value.shape), value.stride())
        if key in first:
            tied[name] = first[key]
        else:
            first[key] = name
    return tied


def encode_pair(model_state: Dict[str, Any], training_state: Dict[str, Any]) -> Tuple[Any, Any]:
    """The pair as cairn._core saves it. A value that cannot be stored raises
    InvalidArgumentError naming its path (``training_state.loops.fit_loop...``), so nothing is
    written (nor a checkpointer opened, when this comes first)."""
    return encode(model_state, "model_state"), encode(training_state, "training_state")


def save_pair(checkpointer: Any, model_state: Dict[str, Any], training_state: Dict[str, Any], *,
              epoch: int, batches_this_epoch: Optional[int] = None, is_best_so_far: bool = False,
              metrics: Optional[Dict[str, float]] = None) -> None:
    """Saves the pair as one checkpoint of ``checkpointer`` (a cairn.Checkpointer): at the end of
    ``epoch``, or inside it after ``batches_this_epoch`` batches (see encode_pair for what
    cannot be stored). ``training_state`` must not use the keys cairn records itself
    ("epoch", "batches_this_epoch"): nest the framework's dict under a key of its own."""
    save_encoded_pair(checkpointer, encode_pair(model_state, training_state), epoch=epoch,
                      batches_this_epoch=batches_this_epoch, is_best_so_far=is_best_so_far,
                      metrics=metrics)


def save_encoded_pair(checkpointer: Any, pair: Tuple[Any, Any], *, epoch: int,
                      batches_this_epoch: Optional[int] = None, is_best_so_far: bool = False,
                      metrics: Optional[Dict[str, float]] = None) -> None:
    """save_pair of what encode_pair gave: the tree is walked once."""
    checkpointer._save_pair(lambda: pair, epoch, is_best_so_far, metrics, batches_this_epoch)


def restore_pair(checkpointer: Any, *, copy: bool = False
                 ) -> Optional[Tuple[Dict[str, Any], Dict[str, Any], CheckpointInfo]]:
    """(model_state, training_state, the checkpoint read) of the newest checkpoint that verifies
    (a damaged newer one is skipped with a warning on the ``cairn`` logger), or None when there
    is none. The training state comes without cairn's own keys. ``copy`` as for
    ``Checkpointer.restore_checkpoint``."""
    model_state, training_state = checkpointer.restore_checkpoint(copy=copy)
    info = checkpointer.last_restored()
    if info is None:
        return None
    return model_state, training_values(training_state), info
