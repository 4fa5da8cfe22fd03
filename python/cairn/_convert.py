"""Python values to what cairn._core saves, and back.

Saving: torch tensors (CPU; others are copied to the CPU) and numpy arrays are passed by
reference (no copy unless a tensor is not contiguous); dicts with integer keys, such as
``optimizer.state_dict()["state"]``, get a marker entry so that they come back with integer
keys; tuples are saved as lists. Refused, with InvalidArgumentError naming the path: text with
a lone surrogate, meta (and other unreadable) tensors, nesting deeper than MAX_DEPTH, and a
container that contains itself.

Restoring: tensors come back as torch tensors or numpy arrays, writable; ``copy=False`` (the
public functions' default) gives views of a private copy-on-write mapping of the file (no copy;
valid as long as they are referenced, even after the file is deleted; a write changes this
process's memory only, never the file), ``copy=True`` copies that own their memory. Every dtype
comes back as itself where the framework has it; numpy has no BF16 and F8, which come as exact
float32 values; a torch without F8 (torch 1.x) gives float32 values too, and one without
U16/U32/U64 widens them to the next signed type (U64 only when the values fit).
"""
import sys
from typing import Any, Optional

import numpy as np

from .errors import InvalidArgumentError

# What cairn._core gives, in a restored tree, for a tensor it restored into its target's memory
# (Checkpointer.restore_checkpoint_into): the target already holds the bytes.
IN_PLACE = type("InPlace", (), {"__repr__": lambda self: "cairn.IN_PLACE", "__slots__": ()})()

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


# Each safetensors dtype as torch names it, and for those numpy lacks (or that a torch may not
# convert to numpy) the same-sized dtype whose numpy array carries their bytes. torch has only
# some of them (torch 1.13 no float8 and no wider unsigned types): those present are found by
# name, never by torch's version.
_TORCH_DTYPES = [
    ("bool", "BOOL", None), ("uint8", "U8", None), ("int8", "I8", None),
    ("int16", "I16", None), ("int32", "I32", None), ("int64", "I64", None),
    ("float16", "F16", None), ("float32", "F32", None), ("float64", "F64", None),
    ("bfloat16", "BF16", "int16"), ("uint16", "U16", "int16"), ("uint32", "U32", "int32"),
    ("uint64", "U64", "int64"), ("float8_e4m3fn", "F8_E4M3", "uint8"),
    ("float8_e5m2", "F8_E5M2", "uint8"),
]
# Of this torch: torch dtype -> (name, torch carrier), name -> (torch dtype, numpy carrier).
_torch_tables = None


def _torch_dtypes():
    global _torch_tables
    if _torch_tables is None:
        import torch
        by_dtype, by_name = {}, {}
        for attribute, name, carrier in _TORCH_DTYPES:
            dtype = getattr(torch, attribute, None)
            if isinstance(dtype, torch.dtype):
                by_dtype[dtype] = (name, None if carrier is None else getattr(torch, carrier))
                by_name[name] = (dtype, None if carrier is None else np.dtype(carrier))
        _torch_tables = (by_dtype, by_name)
    return _torch_tables


def _encode_torch_tensor(tensor, path: str):
    torch = _torch()
    entry = _torch_dtypes()[0].get(tensor.dtype)
    if entry is None:
        raise InvalidArgumentError(f"cannot save {_describe(path)}: torch dtype {tensor.dtype} "
                                   "has no safetensors equivalent")
    if tensor.layout != torch.strided:
        raise InvalidArgumentError(f"cannot save {_describe(path)}: a {tensor.layout} tensor; "
                                   "convert it to a dense one first")
    if tensor.is_meta:
        raise InvalidArgumentError(f"cannot save {_describe(path)}: a tensor on the meta device "
                                   "has no values")
    try:
        return _tensor_as_array(tensor.detach(), *entry)
    except (RuntimeError, NotImplementedError, TypeError) as error:  # fake, lazy, functorch ...
        raise InvalidArgumentError(f"cannot save {_describe(path)}: its values cannot be read on "
                                   f"the CPU ({error})") from error


def _tensor_as_array(tensor, name: str, carrier):
    # Each question is a call into torch and a state may hold tens of thousands of tensors: the
    # common one (on the CPU, contiguous, no lazy negation) is asked the cheapest ones only.
    if not tensor.is_cpu:
        tensor = tensor.cpu()
    if tensor.is_neg() or tensor.is_conj():  # e.g. .imag of a conjugated view
        tensor = tensor.resolve_conj().resolve_neg()
    if not tensor.is_contiguous():
        tensor = tensor.contiguous()
    return array_over(tensor, name, carrier)


def array_over(tensor, name: str, carrier):
    """A numpy array over a contiguous CPU tensor's own memory (no copy): the tensor's bytes
    under its carrier dtype, in a RawTensor, when numpy lacks its dtype."""
    if carrier is not None:  # view() of a 0-d tensor cannot change the element type
        return RawTensor(name, tensor.reshape(-1).view(carrier).reshape(tensor.shape).numpy())
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
    flat = raw.reshape(-1)  # numpy changes no 0-d array's element type, nor gives back 0-d arrays
    return ((flat.view(np.uint16).astype(np.uint32) << 16).view(np.float32)).reshape(raw.shape)


_f8_tables: dict = {}


def _f8_to_float32(raw: np.ndarray, name: str) -> np.ndarray:
    """An F8 tensor's codes (uint8) as float32 values, exact (numpy has no F8)."""
    table = _f8_tables.get(name)
    if table is None:
        from . import _core
        table = _f8_tables[name] = np.array(_core.f8_values(name), dtype=np.float32)
    return table[raw.reshape(-1)].reshape(raw.shape)  # a 0-d index would give a numpy scalar


# A torch without unsigned types wider than 8 bits (torch 1.x) gets them widened to the next
# signed type.
_TORCH_WIDENED = {"U16": np.int32, "U32": np.int64}


def _decode_tensor(raw: RawTensor, tensor_type: str, copy: bool, path: str):
    array = raw.array
    if tensor_type == "numpy":
        if raw.dtype == "BF16":
            return _bf16_to_float32(array)  # numpy has no bfloat16: exact float32 values
        if raw.dtype.startswith("F8_"):
            return _f8_to_float32(array, raw.dtype)
        return np.array(array) if copy else array
    import torch
    entry = _torch_dtypes()[1].get(raw.dtype)
    if entry is None:  # a dtype this torch lacks
        if raw.dtype in _TORCH_WIDENED:
            return torch.from_numpy(array.astype(_TORCH_WIDENED[raw.dtype]))
        if raw.dtype == "U64":
            if array.size and array.max() > np.uint64(np.iinfo(np.int64).max):  # not via float64
                raise InvalidArgumentError(f'"{path}" holds U64 values above the int64 range, '
                                           'which this torch cannot hold; restore with '
                                           'tensor_type="numpy"')
            return torch.from_numpy(array.astype(np.int64))
        if raw.dtype.startswith("F8_"):
            return torch.from_numpy(_f8_to_float32(array, raw.dtype))
        raise InvalidArgumentError(f'"{path}" is a {raw.dtype} tensor, which this torch lacks; '
                                   'restore with tensor_type="numpy"')
    dtype, carrier = entry
    if carrier is not None:
        array = array.view(carrier)  # U16 comes as uint16: torch gets its bytes as int16
    # Restored arrays are writable (a private copy-on-write mapping, or memory of their own):
    # torch, which has no read-only tensors, never gets memory a write would crash on.
    tensor = torch.from_numpy(np.array(array) if copy else array)
    if carrier is None:
        return tensor
    return tensor.reshape(-1).view(dtype).reshape(tensor.shape)


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
