"""cairn's Python plain-loop API against torch.save, torch.load, safetensors and
torch.distributed.checkpoint, and against cairn's C++ save of the same bytes, in one run:
contenders interleaved (their order rotates each repetition), medians of the repetitions, then
the issue's targets as ratios of those medians. docs/performance.md explains every row.

    PYTHONPATH=build/python .venv-torch2/bin/python bench/python_performance.py DIR \
        [--repeat 5] [--workloads a,b,c] [--json FILE]

DIR must be on the disk to measure (not a tmpfs); it needs about 3x the largest state free.
"""
import argparse
import gc
import json
import os
import shutil
import statistics
import sys

import numpy
import safetensors
import torch

import cairn
from pyperf import contenders as c
from pyperf.measure import memory_state
from pyperf.targets import evaluate
from pyperf.workloads import equal_tensors, gpt2_adamw

ROWS = [c.SAVE, c.CPP_SAVE, c.BLOCKED, c.DURABLE, c.RESTORE_IN_PLACE, c.RESTORE_ZERO_COPY,
        c.TORCH_SAVE, c.TORCH_LOAD, c.TORCH_LOAD_MMAP, c.ST_SAVE, c.ST_LOAD, c.DCP_SAVE,
        c.DCP_LOAD, c.RAW_WRITE, c.MEMCPY]
GPT2 = {"small": {}, "tiny": {"layers": 2, "width": 64, "vocab": 1000, "context": 128}}


def progress(text):
    print(text, file=sys.stderr, flush=True)


def workload_of(key, args):
    if key == "a":
        return equal_tensors("a", args.a_mib, 100)
    if key == "b":
        return equal_tensors("b", args.b_mib, args.b_tensors)
    if key == "c":
        return gpt2_adamw(**GPT2[args.gpt2])
    raise SystemExit(f"unknown workload {key!r} (a, b or c)")


def run_workload(workload, args, samples):
    """Every contender `args.repeat` times, in an order that rotates; samples[(key, row)]
    collects the seconds."""
    progress(f"== workload {workload.key}: {workload.description}; {memory_state()}")
    folder = os.path.join(args.dir, workload.key)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    players = [c.CairnSync(workload, folder), c.CairnAsync(workload, folder),
               c.TorchSaveLoad(workload, folder), c.SafetensorsSaveLoad(workload, folder),
               c.DcpSaveLoad(workload, folder), c.RawWrite(workload, folder),
               c.Memcpy(workload, folder)]
    if args.cpp:
        players.append(c.CppSave(workload, folder, args.cpp))

    def record(row, seconds):
        samples.setdefault((workload.key, row), []).append(seconds)

    try:
        for repetition in range(args.repeat):
            shift = repetition % len(players)
            for player in players[shift:] + players[:shift]:
                player.run(record)
            progress(f"  repetition {repetition + 1}/{args.repeat} done; {memory_state()}")
    finally:
        for player in players:
            if hasattr(player, "close"):
                player.close()
        del players
        gc.collect()
        shutil.rmtree(folder, ignore_errors=True)


def print_table(workloads, medians, samples):
    for workload in workloads:
        print(f"\n({workload['key']}) {workload['description']}")
        print(f"    {'contender':44} {'median s':>10} {'GiB/s':>8} {'min s':>9} {'max s':>9}")
        for row in ROWS:
            if (workload["key"], row) not in medians:
                continue
            seconds, values = medians[workload["key"], row], samples[workload["key"], row]
            print(f"    {row:44} {seconds:10.4f} {workload['bytes'] / seconds / 2**30:8.2f} "
                  f"{min(values):9.4f} {max(values):9.4f}")


def print_targets(targets):
    print(f"\n{'target':74} {'goal':>9} {'measured':>9}")
    for t in targets:
        value = "n/a" if t.value is None else f"{t.value:.2f}x"
        verdict = "met" if t.met else "NOT MET"
        bound = f"  ({t.bound})" if t.bound else ""
        print(f"({t.workload}) {t.name:70} {t.goal:>9} {value:>9}  {verdict}{bound}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="folder for the files written (on the disk to measure)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (median)")
    parser.add_argument("--workloads", default="a,b,c",
                        help="a (--a-mib in 100 tensors), b (--b-mib in --b-tensors), "
                             "c (GPT-2 + AdamW)")
    parser.add_argument("--a-mib", type=int, default=1024)
    parser.add_argument("--b-mib", type=int, default=100)
    parser.add_argument("--b-tensors", type=int, default=10000)
    parser.add_argument("--gpt2", choices=sorted(GPT2), default="small",
                        help="tiny: 2 layers of width 64, for a smoke run")
    parser.add_argument("--cpp", default=os.environ.get("CAIRN_BENCH_SAVE_SPEC"),
                        help="cairn-bench-save-spec (build/bench/), for the C++ save row")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every row and every target was measured (smoke test)")
    args = parser.parse_args()
    if not args.cpp:
        progress("no --cpp (cairn-bench-save-spec): the C++ save row is left out")

    versions = {"torch": torch.__version__, "numpy": numpy.__version__,
                "safetensors": safetensors.__version__, "python": sys.version.split()[0],
                "torch_threads": torch.get_num_threads()}
    memory_at_start = memory_state()
    print(f"python_performance: {args.repeat} repetitions, medians; files in {args.dir}; "
          f"{', '.join(f'{k} {v}' for k, v in versions.items())}\nmemory at start: "
          f"{memory_at_start}")
    samples, workloads = {}, []
    for key in args.workloads.split(","):
        torch.manual_seed(0)
        workload = workload_of(key, args)
        workloads.append({"key": key, "description": workload.description,
                          "bytes": workload.bytes()})
        run_workload(workload, args, samples)
        del workload  # its memory goes before the next is built
    try:
        os.rmdir(args.dir)  # empty now: each workload's files went with it
    except OSError:
        pass
    medians = {key: statistics.median(values) for key, values in samples.items()}
    print(f"\nmemory at the end: {memory_state()}")
    print_table(workloads, medians, samples)
    targets = evaluate(medians)
    print_targets(targets)
    if args.json:
        sizes = {w["key"]: w["bytes"] for w in workloads}
        rows = [{"workload": key, "contender": row, "seconds": values,
                 "median_seconds": medians[key, row],
                 "gib_per_second": sizes[key] / medians[key, row] / 2**30}
                for (key, row), values in samples.items()]
        with open(args.json, "w") as out:
            json.dump({"repeat": args.repeat, "versions": versions, "cairn": cairn.__file__,
                       "memory_at_start": memory_at_start,
                       "workloads": workloads,
                       "rows": rows, "targets": [t.__dict__ for t in targets]}, out, indent=2)
    missing = [f"({w['key']}) {row}" for w in workloads for row in ROWS
               if (w["key"], row) not in medians]
    missing += [f"({t.workload}) {t.name}" for t in targets if t.value is None]
    if args.check and missing:
        raise SystemExit(f"not measured: {'; '.join(missing)}")


if __name__ == "__main__":
    main()
