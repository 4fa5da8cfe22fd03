"""Sharded restore: what ``Checkpointer.restore_shards`` takes and returns (docs/sharding.md).

A sharded checkpoint (written by several ranks, each its piece of a global tensor) restores
with each sharded tensor cut to the box asked for: ``{path: (offsets, shape)}``. A path is where
the tensor sits in the checkpoint: a tuple of keys, ``("model_state", "fc.weight")``, or the
same joined by ``/``, ``"model_state/fc.weight"`` (use the tuple for a key that holds a ``/``).
"""
import operator
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from .errors import InvalidArgumentError
from .info import CheckpointInfo

StatePath = Tuple[str, ...]
Box = Tuple[Sequence[int], Sequence[int]]  # (offsets, shape)


@dataclass(frozen=True)
class Shard:
    """Where a restored tensor sits in its global tensor: it is the box of ``global_shape``
    starting at ``offsets`` (its extent is the tensor's own shape)."""
    global_shape: Tuple[int, ...]
    offsets: Tuple[int, ...]


@dataclass(frozen=True)
class RestoredShards:
    """A sharded restore: both states (empty dicts when there is no checkpoint), where each
    sharded tensor's box sits, by path (a tensor not asked for comes whole, at offsets 0), and
    the checkpoint read (None when there is none)."""
    model_state: Dict[str, Any]
    training_state: Dict[str, Any]
    shards: Dict[StatePath, Shard]
    info: Optional[CheckpointInfo]


def _path_of(path: Union[str, Sequence[str]]) -> StatePath:
    keys = tuple(path.split("/")) if isinstance(path, str) else tuple(path)
    if not keys or not all(isinstance(key, str) for key in keys):
        raise InvalidArgumentError(f"a sharded tensor's path is a str or a tuple of str, not "
                                   f"{path!r}")
    return keys


def _extents(values: Sequence[int], what: str, path: StatePath) -> Tuple[int, ...]:
    try:
        return tuple(operator.index(value) for value in values)  # ints, not 2.5
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"the {what} asked for {'/'.join(path)} must be a sequence of "
                                   f"int, not {values!r}") from None


def core_request(slices: Mapping[Union[str, Sequence[str]], Box]
                 ) -> Dict[StatePath, Tuple[Tuple[int, ...], Tuple[int, ...]]]:
    """``slices`` as _core.Checkpointer.restore_shards takes it: path tuple -> (offsets, shape)."""
    if not isinstance(slices, Mapping):
        raise InvalidArgumentError(f"restore_shards takes a dict {{path: (offsets, shape)}}, not a "
                                   f"{type(slices).__name__}")
    request = {}
    for given, box in slices.items():
        path = _path_of(given)
        if not isinstance(box, (tuple, list)) or len(box) != 2:
            raise InvalidArgumentError(f"the box asked for {'/'.join(path)} must be an "
                                       f"(offsets, shape) pair, not {box!r}")
        request[path] = (_extents(box[0], "offsets", path), _extents(box[1], "shape", path))
    return request
