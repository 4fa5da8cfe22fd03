"""What every framework's measure() shares: each timed step starts with nothing left to write
back, and the frameworks' own writers (which do not fsync) are also timed until their bytes are
on disk, as cairn's commit is."""
import gc
import os
import time


def settle() -> None:
    """Before a timed step: garbage collected, and every dirty page written back (os.sync), so
    that a step never pays for the writeback of the one before it."""
    gc.collect()
    os.sync()


def until_on_disk(started: float) -> float:
    """Seconds from ``started`` until what was written since is on disk (os.sync: there is
    nothing else to write on the benchmark's machine)."""
    os.sync()
    return time.perf_counter() - started
