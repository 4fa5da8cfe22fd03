"""One state in one safetensors file."""
import os
from typing import Any, Dict, Optional

from . import _core
from ._convert import checked_str, decode, encode
from .errors import InvalidArgumentError


def save_file(state: Dict[str, Any], path: "os.PathLike[str] | str",
              metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes ``state`` (a dict of tensors, arrays, numbers, strings, lists and dicts) to one
    safetensors file, atomically and durably: a crash leaves the old file or the new one.

    Any safetensors reader opens the file (tensor names are the dotted paths, as PyTorch names
    them); cairn's ``load_file`` gives back the whole tree. ``metadata`` (str to str) goes into
    the header's ``__metadata__``; keys starting with ``cairn.`` are reserved.
    """
    if not isinstance(state, dict):
        raise InvalidArgumentError(f"save_file takes a dict, not a {type(state).__name__}")
    metadata = dict(metadata or {})
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidArgumentError(f"metadata must map str to str; {key!r}: {value!r} does not "
                                       f"(writing {os.fspath(path)})")
        checked_str(key, "metadata")
        checked_str(value, "metadata")
    _core.save_file(encode(state), os.fspath(path), metadata)


def load_file(path: "os.PathLike[str] | str", tensor_type: Optional[str] = None,
              copy: bool = False) -> Dict[str, Any]:
    """Reads a safetensors file: cairn's whole tree, or for a file written by another tool a dict
    of tensors by name. Every tensor's checksum is verified when cairn wrote the file.

    ``tensor_type``: ``"torch"`` (the default when torch is installed) or ``"numpy"``.
    ``copy=False`` (default): tensors view a private copy-on-write mapping of the file, no copy
    made: writable, and a write changes this process's memory only, never the file. Do not
    truncate or rewrite the file in place while they are alive. ``copy=True``: tensors that own
    their memory.
    """
    return decode(_core.load_file(os.fspath(path), False), tensor_type, copy)
