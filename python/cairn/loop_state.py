"""The state of the plain-loop API (``Checkpointer.save``, ``maybe_save``, ``restore``): a dict of
names to modules, optimizers, LR schedulers, scalers, other objects with ``state_dict()`` and
``load_state_dict()`` (``cairn.RngState`` among them), and plain value trees.

Saving: each module's ``state_dict()`` goes to the model file under its name (so ``best`` and
``best_model_state()`` hold the weights), everything else to the training-state file. Tensors
are passed by reference (see _convert).

Restoring in place: every tensor the state already holds in CPU memory of its own (a module's
parameters and buffers, an optimizer's moments and steps) is a target of
``restore_checkpoint_into``: the saved bytes are read into that memory and verified there. What
has no target (the moments of an optimizer that has not stepped yet, a tensor on a GPU or not
contiguous, the second name of a tied weight) comes as a zero-copy, copy-on-write tensor and is
handed to ``load_state_dict``; plain values are replaced in the dict.
"""
import sys
from collections import OrderedDict
from typing import Any, Dict, Mapping, MutableMapping, Optional, Set, Tuple

from ._convert import IN_PLACE, _torch_dtypes, array_over, checked_str, encode
from .errors import InvalidArgumentError

# Keys cairn writes into every training state itself (CheckpointInfo gives them back).
RESERVED = ("epoch", "batches_this_epoch")


def _is_module(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def _is_stateful(value: Any) -> bool:
    return callable(getattr(value, "state_dict", None)) and \
        callable(getattr(value, "load_state_dict", None))


def check(state: Any) -> Mapping[str, Any]:
    """``state`` if it is a dict of str names none of which is reserved; else
    InvalidArgumentError."""
    if not isinstance(state, MutableMapping):
        raise InvalidArgumentError(f"the state must be a dict of names to modules, optimizers, "
                                   f"schedulers or values, not a {type(state).__name__}")
    for name in state:
        if not isinstance(name, str):
            raise InvalidArgumentError(f"the state's names must be str, not {name!r}")
        checked_str(name, name)
        if name in RESERVED:
            raise InvalidArgumentError(f'"{name}" is a name cairn records itself (the restore '
                                       "returns it in CheckpointInfo): call the entry otherwise")
    return state


def encoded(state: Mapping[str, Any]) -> Tuple[Any, Any]:
    """The (model_state, training_state) pair cairn._core saves."""
    model, training = {}, {}
    for name, value in check(state).items():
        if _is_module(value):
            model[name] = value.state_dict()
        elif _is_stateful(value):
            training[name] = value.state_dict()
        else:
            training[name] = value
    return encode(model), encode(training)


# ---- restoring ----

def _target(tensor, seen: Set[int]) -> Any:
    """An array over ``tensor``'s own memory for the restore to write into, or None."""
    entry = _torch_dtypes()[0].get(tensor.dtype)
    if entry is None or not tensor.is_cpu or not tensor.is_contiguous() or tensor.is_conj() \
            or tensor.is_neg():
        return None
    address = tensor.data_ptr()
    if address in seen:
        return None
    if tensor.numel() > 0:
        seen.add(address)  # a tied weight takes its bytes once, through its first name
    return array_over(tensor.detach(), *entry)


def _targets(value: Any, seen: Set[int]) -> Any:
    """``value``'s tree in the shape encode() gives it, with targets for leaves."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return _target(value, seen)
    if isinstance(value, dict):
        return {str(key): _targets(item, seen) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_targets(item, seen) for item in value]
    return None


def targets(state: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """(model targets, training targets, the state_dict() each target was taken from, by name)."""
    seen: Set[int] = set()
    model, training, sources = {}, {}, {}
    for name, value in check(state).items():
        if _is_module(value) or _is_stateful(value):
            sources[name] = value.state_dict()
            (model if _is_module(value) else training)[name] = _targets(sources[name], seen)
    return model, training, sources


def _filled(restored: Any, source: Any) -> Any:
    """``restored`` with each IN_PLACE replaced by the tensor at that path in ``source``."""
    if restored is IN_PLACE:
        return source
    if isinstance(restored, dict):
        return {key: _filled(item, _at(source, key)) for key, item in restored.items()}
    if isinstance(restored, list):
        return [_filled(item, _at(source, index)) for index, item in enumerate(restored)]
    return restored


def _at(source: Any, key: Any) -> Any:
    if isinstance(source, dict):
        return source.get(key)
    if isinstance(source, (list, tuple)) and isinstance(key, int) and key < len(source):
        return source[key]
    return None


def put_back(state: MutableMapping[str, Any], model: Dict[str, Any], training: Dict[str, Any],
             sources: Dict[str, Any], checkpoint: str) -> None:
    """Hands each entry of ``state`` what the checkpoint holds for it (decoded trees). Every
    name is checked first, so a checkpoint that lacks one changes no entry through its
    ``load_state_dict`` or the dict."""
    for name, value in state.items():
        if name not in (model if _is_module(value) else training):
            kept = ", ".join(sorted(list(model) + [key for key in training if key not in RESERVED]))
            raise InvalidArgumentError(f'checkpoint {checkpoint} holds no "{name}" for the '
                                       f"{type(value).__name__} of that name (it holds: "
                                       f"{kept or 'nothing'})")
    for name, value in list(state.items()):
        saved = (model if _is_module(value) else training)[name]
        if _is_module(value):
            _load_module(value, saved, sources[name], name, checkpoint)
        elif _is_stateful(value):
            value.load_state_dict(_filled(saved, sources[name]))
        else:
            state[name] = saved


def _load_module(module, saved: Any, current: Any, name: str, checkpoint: str) -> None:
    """Loads what was not restored in place into ``module``, whose state_dict() the restore's
    targets were taken from is ``current``."""
    if not isinstance(saved, dict):
        raise InvalidArgumentError(f'checkpoint {checkpoint}: "{name}" is not a module\'s state')
    expected = set(current)
    missing, unexpected = sorted(expected - set(saved)), sorted(set(saved) - expected)
    if missing or unexpected:
        raise InvalidArgumentError(
            f'checkpoint {checkpoint}: "{name}" does not fit the {type(module).__name__}: '
            f"missing {', '.join(missing) or 'nothing'}; unexpected "
            f"{', '.join(unexpected) or 'nothing'}")
    rest = OrderedDict((key, item) for key, item in saved.items() if item is not IN_PLACE)
    if rest:  # what was not read in place: tied names, tensors on a GPU, extra state
        # The module's own version numbers go along: without them a module may take the
        # state for an old one and fill in what is missing (torch 1.x's BatchNorm resets
        # num_batches_tracked, restored in place, to 0).
        rest._metadata = getattr(current, "_metadata", None)  # type: ignore[attr-defined]
        module.load_state_dict(rest, strict=False)


def training_values(training: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The training state without the keys cairn adds itself."""
    return {key: value for key, value in (training or {}).items() if key not in RESERVED}
