"""The errors cairn raises; each mirrors an error kind of the C++ library.

Every message names the path and the reason.
"""


class Error(Exception):
    """Base of every error cairn raises."""


class CorruptDataError(Error):
    """The data is bad: a truncated file, a flipped bit, a hostile header, a torn checkpoint."""


class IoError(Error, OSError):
    """The system refused an operation (disk full, permission, missing path); ``errno`` is set."""


class LockedError(Error):
    """Another writer (another process, or another Checkpointer) holds the directory."""


class InvalidArgumentError(Error, ValueError):
    """Misuse: a value cairn cannot save, an unknown option, an option out of range."""


class RankError(Error):
    """In a multi-rank save or restore, another rank failed or did not arrive in time."""
