"""A ready pair of trees, (model_state, training_state), saved and restored through a Checkpointer.

The framework integrations (cairn.lightning, cairn.transformers, cairn.accelerate) get the
framework's own checkpoint as nested dicts of tensors and plain values, where the plain-loop API
takes modules and optimizers: these two functions save such a pair as one checkpoint and give
it back, with the checkpoint it came from.
"""
from typing import Any, Dict, Optional, Tuple

from .info import CheckpointInfo
from .loop_state import training_values


class _Pair:
    """A trainer in AllenNLP's protocol over a pair already in hand."""

    def __init__(self, model_state: Dict[str, Any], training_state: Dict[str, Any]) -> None:
        self._pair = (model_state, training_state)

    def get_checkpoint_state(self) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        return self._pair


def save_pair(checkpointer: Any, model_state: Dict[str, Any], training_state: Dict[str, Any], *,
              epoch: int, batches_this_epoch: Optional[int] = None, is_best_so_far: bool = False,
              metrics: Optional[Dict[str, float]] = None) -> None:
    """Saves the pair as one checkpoint of ``checkpointer`` (a cairn.Checkpointer): at the end of
    ``epoch``, or inside it after ``batches_this_epoch`` batches. A value that cannot be stored
    raises InvalidArgumentError naming its path (``training_state.loops.fit_loop...``) before
    anything is written. ``training_state`` must not use the keys cairn records itself
    ("epoch", "batches_this_epoch"): nest the framework's dict under a key of its own."""
    # save_checkpoint converts the pair (cairn.Checkpointer's AllenNLP API).
    checkpointer.save_checkpoint(int(epoch), _Pair(model_state, training_state), is_best_so_far,
                                 metrics, batches_this_epoch=batches_this_epoch)


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
