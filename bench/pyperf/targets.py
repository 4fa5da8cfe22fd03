"""The issue's targets, as ratios of medians of one run, for every workload. Each target says,
beside met or not, the bound that limits it (so a target out of reach shows why)."""
from dataclasses import dataclass
from typing import Optional

from .contenders import (BLOCKED, CPP_SAVE, MEMCPY, RAW_WRITE, RESTORE_IN_PLACE,
                         RESTORE_ZERO_COPY, SAVE, ST_SAVE, TORCH_LOAD, TORCH_SAVE)


@dataclass
class Target:
    workload: str
    name: str
    goal: str  # ">= 1.25x", "<= 1.10x"
    value: Optional[float]
    met: bool
    bound: str  # what limits it: "raw write is 1.6x torch.save"


def evaluate(medians):
    """medians: {(workload, row): seconds}. The targets of every workload measured."""
    targets = []
    for workload in sorted({key for key, _ in medians}):
        def time(row):
            return medians.get((workload, row))

        def ratio(numerator, denominator):
            a, b = time(numerator), time(denominator)
            return a / b if a is not None and b else None

        def add(name, value, at_least=None, at_most=None, bound=""):
            goal = f">= {at_least:.2f}x" if at_least is not None else f"<= {at_most:.2f}x"
            met = value is not None and (value >= at_least if at_least is not None
                                         else value <= at_most)
            targets.append(Target(workload, name, goal, value, met, bound))

        def bound(text, value):
            return "" if value is None else text.format(value)

        raw_vs_torch = bound("the raw write is {:.2f}x as fast as torch.save",
                             ratio(TORCH_SAVE, RAW_WRITE))
        raw_vs_st = bound("the raw write is {:.2f}x as fast as safetensors",
                          ratio(ST_SAVE, RAW_WRITE))
        memcpy_vs_load = bound("one memcpy is {:.1f}x as fast as torch.load",
                               ratio(TORCH_LOAD, MEMCPY))
        add("save vs torch.save + fsync", ratio(TORCH_SAVE, SAVE), at_least=1.25,
            bound=raw_vs_torch)
        add("save vs safetensors save_file + fsync", ratio(ST_SAVE, SAVE), at_least=1.25,
            bound=raw_vs_st)
        add("Python save / C++ save of the same bytes", ratio(SAVE, CPP_SAVE), at_most=1.10,
            bound=bound("save takes {:.2f}x the raw write", ratio(SAVE, RAW_WRITE)))
        add("restore in place vs torch.load", ratio(TORCH_LOAD, RESTORE_IN_PLACE), at_least=10,
            bound=memcpy_vs_load)
        add("restore in place vs one memcpy", ratio(MEMCPY, RESTORE_IN_PLACE), at_least=0.6)
        add("restore zero-copy (default; every checksum verified) vs torch.load",
            ratio(TORCH_LOAD, RESTORE_ZERO_COPY), at_least=10, bound=memcpy_vs_load)
        add("async save: caller blocked, in memcpys of the state", ratio(BLOCKED, MEMCPY),
            at_most=1.5)
    return targets
