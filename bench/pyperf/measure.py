"""Measuring tools of the Python benchmark: timing, the tensors of a state, touching their memory,
one memcpy, fsync, and the machine's memory state."""
import ctypes
import os
import time

import torch


def seconds_of(action):
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def tensors_of(value):
    """Every tensor of a tree of dicts, lists and tuples, in order."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_of(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors_of(item)


def nbytes(tensors):
    return sum(t.numel() * t.element_size() for t in tensors)


def touch(tensors):
    """Writes one byte of every 4 KiB page (its own value back), as a training step would: this
    VM's host takes idle guest memory back, and touching it again costs page faults
    (docs/performance.md, "Memory state"), which no contender should be charged for."""
    with torch.no_grad():
        for tensor in tensors:
            if tensor.numel():
                tensor.detach().reshape(-1).view(torch.uint8)[::4096].add_(0)


def memcpy(sources, destinations):
    """One memcpy of every tensor into its (touched, same-sized) destination, on one thread."""
    for source, destination in zip(sources, destinations):
        ctypes.memmove(destination.data_ptr(), source.data_ptr(),
                       source.numel() * source.element_size())


def fsync_path(path):
    """fsync of a file or a directory (the directory makes a new name in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def memory_state():
    """ "MemAvailable 19.1 GiB, MemFree 17.9 GiB": what the timings depend on here."""
    fields = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0]) * 1024
    return (f"MemAvailable {fields['MemAvailable'] / 2**30:.1f} GiB, "
            f"MemFree {fields['MemFree'] / 2**30:.1f} GiB")
