"""Python values to what cairn._core saves, and back.

Saving: torch tensors (CPU; others are copied to the CPU) and numpy arrays are passed by
reference (no copy unless a tensor is not contiguous); dicts with integer keys, such as
``optimizer.state_dict()["state"]``, get a marker entry so that they come back with integer
keys; tuples are saved as lists. Refused, with InvalidArgumentError naming the path: text with
a lone surrogate, meta (and other unreadable) tensors, nesting deeper than MAX_DEPTH, and a
container that contains itself.

Restoring: tensors come back as torch tensors or numpy arrays; ``copy=False`` gives read-only
views of the file's memory mapping (valid as long as they are referenced, even after the file
is deleted; never write into them), ``copy=True`` owned, writable copies.
"""
import sys
import warnings
from typing import Any, Optional

import numpy as np

from .errors import InvalidArgumentError

# A map whose keys were Python ints carries this entry (a bool); it is not a tensor, so tensor
# names stay what PyTorch calls them ("optimizer.state.0.exp_avg").
INT_KEYS_MARKER = "__cairn_int_keys__"


class RawTensor:
    """A tensor whose dtype numpy may lack (BF16, F8): its safetensors dtype name and an array of
    its elements' bytes, of the same element size (BF16 as int16, F8 as uint8). Restored tensors
    of every dtype arrive in this form."""

    __slots__ = ("dtype", "array")

    def __init__(self, dtype: str, array: np.ndarray):
        self.dtype = dtype
        self.array = array

    def __repr__(self) -> str:
        return f"RawTensor({self.dtype}, shape={tuple(self.array.shape)})"


def _torch():
    return sys.modules.get("torch")  # only when the caller uses torch: never imported for them


def _describe(path: str) -> str:
    return f'"{path}"' if path else "the top level"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_TORCH_DTYPE_NAMES = {
    "torch.bool": "BOOL", "torch.uint8": "U8", "torch.int8": "I8", "torch.int16": "I16",
    "torch.int32": "I32", "torch.int64": "I64", "torch.float16": "F16", "torch.bfloat16": "BF16",
    "torch.float32": "F32", "torch.float64": "F64",
}


def _encode_torch_tensor(tensor, path: str):
    torch = _torch()
    name = _TORCH_DTYPE_NAMES.get(str(tensor.dtype))
    if name is None:
        raise InvalidArgumentError(f"cannot save {_describe(path)}: torch dtype {tensor.dtype} "
                                   "has no safetensors equivalent")
    if tensor.layout != torch.strided:
        raise InvalidArgumentError(f"cannot save {_describe(path)}: a {tensor.layout} tensor; "
                                   "convert it to a dense one first")
    if tensor.is_meta:
        raise InvalidArgumentError(f"cannot save {_describe(path)}: a tensor on the meta device "
                                   "has no values")
    try:
        return _tensor_as_array(tensor.detach(), name)
    except (RuntimeError, NotImplementedError, TypeError) as error:  # fake, lazy, functorch ...
        raise InvalidArgumentError(f"cannot save {_describe(path)}: its values cannot be read on "
                                   f"the CPU ({error})") from error


def _tensor_as_array(tensor, name: str):
    torch = _torch()
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    tensor = tensor.resolve_conj().resolve_neg().contiguous()
    if name == "BF16":
        return RawTensor("BF16", tensor.view(torch.int16).numpy())
    return tensor.numpy()


# The deepest nesting saved (the top level is depth 0): the C++ writer's limit
# (kMaxWriteDepth), checked here first so that a deep tree is refused with its path rather than
# by Python's recursion limit.
MAX_DEPTH = 128


def checked_str(text: str, path: str) -> str:
    """``text``, if it can be written as UTF-8; else InvalidArgumentError naming ``path``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate: not text a file can hold
        raise InvalidArgumentError(f"cannot save {_describe(path)}: {text!r} is not valid Unicode "
                                   f"({error.reason} at index {error.start})") from None
    return text


def encode(value: Any, path: str = "") -> Any:
    """``value`` as cairn._core takes it (see the module's docstring)."""
    return _Encoder().encode(value, path, 0)


class _Encoder:
    """One tree's conversion: the containers on the path being converted, by id, to tell a tree
    from a container that holds itself (the same container twice elsewhere is saved twice)."""

    def __init__(self) -> None:
        self._open: set = set()

    def encode(self, value: Any, path: str, depth: int) -> Any:
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, str):
            return checked_str(value, path)
        torch = _torch()
        if torch is not None and isinstance(value, torch.Tensor):
            return _encode_torch_tensor(value, path)
        if isinstance(value, np.ndarray):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, (dict, list, tuple)):
            return self._container(value, path, depth)
        raise InvalidArgumentError(f"cannot save {_describe(path)}: a {type(value).__name__} is "
                                   "not a tensor, array, number, str, bool, None, list, tuple or "
                                   "dict")

    def _container(self, value: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise InvalidArgumentError(f"cannot save {_describe(path)}: nested deeper than "
                                       f"{MAX_DEPTH} levels")
        if id(value) in self._open:
            raise InvalidArgumentError(f"cannot save {_describe(path)}: a "
                                       f"{type(value).__name__} that contains itself")
        self._open.add(id(value))
        try:
            if isinstance(value, dict):
                return self._map(value, path, depth)
            return [self.encode(item, _child(path, str(index)), depth + 1)
                    for index, item in enumerate(value)]
        finally:
            self._open.discard(id(value))

    def _map(self, value: dict, path: str, depth: int) -> dict:
        keys = list(value)
        if all(isinstance(key, str) for key in keys):
            if INT_KEYS_MARKER in value:
                raise InvalidArgumentError(f"cannot save {_describe(path)}: the key "
                                           f"{INT_KEYS_MARKER} is reserved")
            return {checked_str(key, path): self.encode(item, _child(path, key), depth + 1)
                    for key, item in value.items()}
        if all(isinstance(key, int) and not isinstance(key, bool) for key in keys):
            encoded = {str(key): self.encode(item, _child(path, str(key)), depth + 1)
                       for key, item in value.items()}
            encoded[INT_KEYS_MARKER] = True
            return encoded
        kinds = sorted({type(key).__name__ for key in keys})
        raise InvalidArgumentError(f"cannot save {_describe(path)}: map keys must be all str or "
                                   f"all int, not {', '.join(kinds)}")


def default_tensor_type() -> str:
    """``"torch"`` when torch can be imported, else ``"numpy"``."""
    try:
        import torch  # noqa: F401
        return "torch"
    except ImportError:
        return "numpy"


def _bf16_to_float32(raw: np.ndarray) -> np.ndarray:
    return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)


_f8_tables: dict = {}


def _f8_to_float32(raw: np.ndarray, name: str) -> np.ndarray:
    """An F8 tensor's codes (uint8) as float32 values, exact (numpy has no F8)."""
    table = _f8_tables.get(name)
    if table is None:
        from . import _core
        table = _f8_tables[name] = np.array(_core.f8_values(name), dtype=np.float32)
    return table[raw.reshape(-1)].reshape(raw.shape)  # a 0-d index would give a numpy scalar


# torch 1.x has no unsigned types wider than 8 bits: those widen to the next signed type.
_TORCH_WIDENED = {"U16": np.int32, "U32": np.int64}


def _decode_tensor(raw: RawTensor, tensor_type: str, copy: bool, path: str):
    array = raw.array
    if raw.dtype.startswith("F8_"):  # neither numpy nor torch 1.x has F8: float32 values
        array = _f8_to_float32(array, raw.dtype)
    if tensor_type == "numpy":
        if raw.dtype == "BF16":
            return _bf16_to_float32(array)  # numpy has no bfloat16: exact float32 values
        return np.array(array) if copy and array is raw.array else array
    import torch
    if raw.dtype in _TORCH_WIDENED:
        return torch.from_numpy(array.astype(_TORCH_WIDENED[raw.dtype]))
    if raw.dtype == "U64":
        if array.size and array.max() > np.uint64(np.iinfo(np.int64).max):  # not via float64
            raise InvalidArgumentError(f'"{path}" holds U64 values above the int64 range, which '
                                       'torch cannot hold; restore with tensor_type="numpy"')
        return torch.from_numpy(array.astype(np.int64))
    if copy:
        tensor = torch.from_numpy(np.array(array))
    else:
        with warnings.catch_warnings():  # torch has no read-only tensors: see the docstring
            warnings.simplefilter("ignore", UserWarning)
            tensor = torch.from_numpy(array)
    return tensor.view(torch.bfloat16) if raw.dtype == "BF16" else tensor


def decode(value: Any, tensor_type: Optional[str] = None, copy: bool = True, path: str = "") -> Any:
    """What cairn._core restored, as Python values with torch tensors or numpy arrays."""
    tensor_type = tensor_type or default_tensor_type()
    if tensor_type not in ("torch", "numpy"):
        raise InvalidArgumentError(f'tensor_type must be "torch" or "numpy", not {tensor_type!r}')
    return _decode(value, tensor_type, copy, path)


def _decode(value: Any, tensor_type: str, copy: bool, path: str) -> Any:
    if isinstance(value, RawTensor):
        return _decode_tensor(value, tensor_type, copy, path)
    if isinstance(value, dict):
        if value.get(INT_KEYS_MARKER) is True:
            return {int(key): _decode(item, tensor_type, copy, _child(path, key))
                    for key, item in value.items() if key != INT_KEYS_MARKER}
        return {key: _decode(item, tensor_type, copy, _child(path, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item, tensor_type, copy, _child(path, str(i))) for i, item in enumerate(value)]
    return value
