"""Lightning's checkpoint dict as the (model_state, training_state) pair cairn saves, and back.

The weights (``checkpoint["state_dict"]``) are the model state, each tied weight once; the rest
of the dict goes into the training state under one key, "lightning" (cairn records "epoch" and
"batches_this_epoch" at the top level itself, and Lightning's own "epoch" must not collide),
with what cairn's trees do not keep: the order of the keys, where the tuples were (they come
back as lists) and which weights were tied.
"""
from typing import Any, Dict, List, Optional, Tuple

from ._pair import tied_names
from .errors import InvalidArgumentError

_KEY = "lightning"


def to_pair(checkpoint: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(model_state, training_state) of Lightning's dict."""
    weights = checkpoint.get("state_dict")
    if not isinstance(weights, dict):
        raise InvalidArgumentError("the Lightning checkpoint has no \"state_dict\" dict of weights")
    rest = {key: value for key, value in checkpoint.items() if key != "state_dict"}
    tied = tied_names(weights)
    kept = {name: value for name, value in weights.items() if name not in tied}
    return kept, {_KEY: rest, "keys": list(checkpoint), "tuples": _tuple_paths(rest, [], []),
                  "weights": list(weights), "tied": tied}


def from_pair(model_state: Dict[str, Any], training_state: Dict[str, Any],
              source: str) -> Dict[str, Any]:
    """Lightning's dict as it was saved, from the two trees of checkpoint ``source``."""
    rest = training_state.get(_KEY)
    if not isinstance(rest, dict):
        raise InvalidArgumentError(f"{source}: not written by cairn.lightning (its training state "
                                   f"has no \"{_KEY}\" dict)")
    _put_back_tuples(rest, training_state.get("tuples", []))
    tied = training_state.get("tied", {})
    rest["state_dict"] = {name: model_state[tied[name]] if name in tied else model_state[name]
                          for name in training_state.get("weights", list(model_state) + list(tied))}
    return {key: rest[key] for key in training_state.get("keys", list(rest))}


def position(checkpoint: Dict[str, Any]) -> Tuple[int, Optional[int]]:
    """cairn's labels for a Lightning checkpoint: (the epoch its last batch belongs to, batches
    trained in it), the count None when that was the epoch's last batch (an end-of-epoch save).
    Lightning's own "epoch" is not that epoch once the epoch has ended (at ``on_train_end``)."""
    epoch = int(checkpoint.get("epoch", 0))
    try:
        loop = checkpoint["loops"]["fit_loop"]
        epoch = max(int(loop["epoch_progress"]["current"]["started"]) - 1, 0)
        progress = loop["epoch_loop.batch_progress"]
        batches, last = int(progress["current"]["processed"]), bool(progress["is_last_batch"])
    except (KeyError, TypeError, ValueError):
        return epoch, None
    return epoch, None if last else batches


def _tuple_paths(value: Any, path: List[Any], found: List[List[Any]]) -> List[List[Any]]:
    """The paths of the tuples in ``value`` (cairn saves a tuple as a list), deepest first, so
    they can be made tuples again from the inside out."""
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        _tuple_paths(item, path + [key], found)
    if isinstance(value, tuple):
        found.append(path)
    return found


def _put_back_tuples(tree: Dict[str, Any], paths: List[List[Any]]) -> None:
    for path in paths:
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = tuple(parent[path[-1]])
