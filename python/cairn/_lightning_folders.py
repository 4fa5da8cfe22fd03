"""What cairn.lightning may write into and delete: checks on a folder before either.

A path Lightning names is a folder CairnCheckpointIO owns only when it is one cairn directory
of its own making: never a committed checkpoint or a folder inside a cairn directory (a save
there would nest one directory in another), never a directory another writer keeps more in (a
keep-1 save would delete it), and never one holding a file cairn did not write (a deletion
would take it along). Names as docs/format.md, section 4, gives them.
"""
import itertools
import os
import re
import shutil
from typing import Callable, List

from . import tools
from .errors import InvalidArgumentError

_CHECKPOINT = r"ckpt-\d{10}-epoch\d+-(?:batch\d+|end)"
_FILES = {"model.safetensors", "training_state.safetensors", "MANIFEST.json"}
_TEMPORARY = re.compile(r"\..+\.cairn-tmp\.\d+\.\d+")          # section 3
_STAGED = re.compile(rf"(?:discarded-)?{_CHECKPOINT}\.\d+\.\d+")  # <name>.<pid>.<n>
_SEGMENT = re.compile(r"(?:queue|permanent|retained)-\d{10}-\d{10}-[0-9a-f]{16}\.json")
_MARKER = ".cairn-owned"
# A folder inside a cairn directory sits in one of these, or is its best link.
_INSIDE = {"checkpoints", "best", "best-versions", "staging", "retention-segments"}
_hidden = itertools.count()  # numbers the hidden folders of this process


def is_cairn_dir(folder: str) -> bool:
    """Whether ``folder`` has the layout of a cairn serialization directory."""
    return os.path.isfile(os.path.join(folder, "retention.json")) and \
        os.path.isdir(os.path.join(folder, "checkpoints"))


def check_save_target(folder: str, own: bool) -> None:
    """Refuses a save into ``folder`` that would nest cairn directories or delete what a keep-1
    writer never makes; ``own``: this process holds ``folder`` as a writer already."""
    real = os.path.realpath(folder)
    if os.path.isfile(os.path.join(real, "MANIFEST.json")):
        raise InvalidArgumentError(f"not saving into {folder}: it is one committed cairn "
                                   "checkpoint, not a folder to save into")
    parent = os.path.dirname(real)
    for outer in (parent, os.path.dirname(parent)):
        if is_cairn_dir(outer) and (outer == parent or os.path.basename(parent) in _INSIDE):
            raise InvalidArgumentError(f"not saving into {folder}: it lies inside the cairn "
                                       f"directory {outer}")
    if own or not is_cairn_dir(real):
        return
    listing = tools.list_directory(real)
    kept = len(listing.checkpoints) + len(listing.damaged)
    if os.path.lexists(os.path.join(real, "best")) or \
            any(info.permanent for info in listing.checkpoints) or kept > 2:
        raise InvalidArgumentError(
            f"not saving into {folder}: it is a cairn directory with a best, permanent or more "
            f"than 2 checkpoints ({kept}), which CairnCheckpointIO's keep-1 save would delete "
            "(a CairnModelCheckpoint's? save elsewhere)")


def foreign_entries(folder: str) -> List[str]:
    """The paths in cairn directory ``folder`` that cairn.lightning's plugin did not write."""
    foreign: List[str] = []
    top = {"cairn.lock": False, "retention.json": False, "retention-segments": True,
           "staging": True, "checkpoints": True}
    for name, path, is_dir in _entries(folder, foreign):
        if name in top and top[name] == is_dir:
            continue
        if not is_dir and _TEMPORARY.fullmatch(name):
            continue
        foreign.append(path)
    for name, path, is_dir in _entries(os.path.join(folder, "checkpoints"), foreign):
        _one_checkpoint(path, is_dir and re.fullmatch(_CHECKPOINT, name), foreign)
    for name, path, is_dir in _entries(os.path.join(folder, "staging"), foreign):
        if name != _MARKER or is_dir:
            _one_checkpoint(path, is_dir and _STAGED.fullmatch(name), foreign)
    for name, path, is_dir in _entries(os.path.join(folder, "retention-segments"), foreign):
        if is_dir or not (name == _MARKER or _SEGMENT.fullmatch(name) or
                          _TEMPORARY.fullmatch(name)):
            foreign.append(path)
    return sorted(foreign)


def _entries(folder: str, foreign: List[str]):
    """(name, path, is a real folder) of each entry; a symbolic link counts as foreign."""
    if not os.path.isdir(folder) or os.path.islink(folder):
        return
    for entry in sorted(os.scandir(folder), key=lambda entry: entry.name):
        if entry.is_symlink():
            foreign.append(entry.path)
        else:
            yield entry.name, entry.path, entry.is_dir(follow_symlinks=False)


def _one_checkpoint(path: str, named_like_one: bool, foreign: List[str]) -> None:
    if not named_like_one:
        foreign.append(path)
        return
    for name, inner, is_dir in _entries(path, foreign):
        if is_dir or not (name in _FILES or _TEMPORARY.fullmatch(name)):
            foreign.append(inner)


def publish_new(folder: str, write: Callable[[str], None]) -> None:
    """Makes ``folder`` whole or not at all: ``write`` fills a hidden sibling folder, which is
    then renamed to the name (both fsynced), so that a kill never leaves ``last.ckpt/`` without
    a checkpoint in it."""
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    building = _hidden_sibling(folder, "new")
    try:
        write(building)
        _fsync(building)
        os.rename(building, folder)
        _fsync(parent)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def remove_out_of_sight(folder: str) -> None:
    """Renames ``folder`` out of Lightning's sight first, then deletes it: a kill during the
    deletion leaves no half folder under the name, at worst a hidden one nobody loads."""
    doomed = _hidden_sibling(folder, "removed")
    os.rename(folder, doomed)
    shutil.rmtree(doomed)


def _hidden_sibling(folder: str, kind: str) -> str:
    """``.cairn-<kind>.<pid>.<n>`` beside ``folder``: without its name, as a name holding
    "last" would be taken by Lightning's search for last checkpoints."""
    return os.path.join(os.path.dirname(folder), f".cairn-{kind}.{os.getpid()}.{next(_hidden)}")


def _fsync(folder: str) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
