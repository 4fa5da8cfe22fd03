#!/usr/bin/env python3
"""The checkpoint step of each framework cairn plugs into, with the framework's own writer and
with cairn, on the same model: GPT-2 small (124 M parameters) with AdamW's moments.

    PYTHONPATH=build/python .venv-torch2/bin/python bench/framework_checkpoints.py /var/tmp/cairn-fw \
        --repeat 5 --json framework-checkpoints.json

Each framework's module (bench/frameworks/<name>.py) builds the model inside the framework,
takes one training step so the optimizer's moments exist, and times the call a training loop
pays for at a save, alternating its two writers each repetition, deleting each checkpoint after
it is timed; before each step every dirty page is written back (os.sync), so that no step pays
for the one before. Reported: the median of the repetitions (and the fastest) over cairn's, the
bytes of one checkpoint, and for the frameworks' own writers, which do not fsync, also the time
until their bytes are on disk (the step, then os.sync). cairn's commit fsyncs every file, the
manifest and the folder, and checksums every byte. `--gpt2 tiny` and `--check` make the smoke run of the
test suite: every row present, nothing judged.
"""
import argparse
import gc
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

FRAMEWORKS = ("lightning", "transformers", "accelerate")


def gpt2_config(size: str):
    from transformers import GPT2Config
    if size == "small":
        return GPT2Config()  # 12 layers, 768 wide, 50257 tokens: 124 M parameters
    return GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=512, n_positions=64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", type=Path, help="where the checkpoints are written (a real "
                        "disk: the timings include its fsyncs)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per writer (median)")
    parser.add_argument("--gpt2", choices=("small", "tiny"), default="small",
                        help="GPT-2 small (default), or a tiny config for a smoke run")
    parser.add_argument("--only", choices=FRAMEWORKS, action="append",
                        help="this framework only (repeatable)")
    parser.add_argument("--json", type=Path, help="write every row here")
    parser.add_argument("--check", action="store_true",
                        help="fail unless every framework gave both writers' rows")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    config = gpt2_config(args.gpt2)
    rows = []
    for name in args.only or FRAMEWORKS:
        module = importlib.import_module(f"frameworks.{name}")
        workdir = args.workdir / name
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"{name}: timing {args.repeat} checkpoint steps per writer ...", flush=True)
        started = time.monotonic()
        rows.extend(dict(row, module=name) for row in module.measure(workdir, config, args.repeat))
        print(f"{name}: done in {time.monotonic() - started:.0f} s", flush=True)
        gc.collect()
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"gpt2": args.gpt2, "repeat": args.repeat,
                                         "torch": torch.__version__, "rows": rows}, indent=2))
    if args.check:
        return check(rows, args.only or FRAMEWORKS, args.repeat)
    return 0


def print_table(rows) -> None:
    """One line per writer: the median step, its fastest, and for the writers that do not fsync
    also the median time until their bytes were on disk (os.sync after the step), each over
    cairn's median step of the same framework (whose commit is on disk when it returns)."""
    cairn_median = {row["module"]: statistics.median(row["seconds"]) for row in rows
                    if row["writer"].lower().startswith("cairn")}
    print(f"\n{'framework':<13} {'writer':<60} {'median s':>9} {'fastest':>8} {'/ cairn':>8} "
          f"{'on disk s':>10} {'/ cairn':>8} {'MB':>7}")
    for row in rows:
        median = statistics.median(row["seconds"])
        cairn = cairn_median.get(row["module"])
        durable = row.get("seconds_until_on_disk")
        durable_median = statistics.median(durable) if durable else None
        print(f"{row['module']:<13} {row['writer']:<60} {median:>9.3f} "
              f"{min(row['seconds']):>8.3f} {ratio(median, cairn):>8} "
              f"{'' if durable_median is None else f'{durable_median:.3f}':>10} "
              f"{ratio(durable_median, cairn):>8} {row['bytes'] / 1e6:>7.1f}")
    for row in rows:
        print(f"  {row['module']}, {row['writer']}: {row['step']}")


def ratio(seconds, cairn) -> str:
    return "" if seconds is None or not cairn else f"{seconds / cairn:.2f}x"


def check(rows, frameworks, repeat: int) -> int:
    problems = []
    for name in frameworks:
        mine = [row for row in rows if row["module"] == name]
        if len(mine) != 2 or sum(row["writer"].lower().startswith("cairn") for row in mine) != 1:
            problems.append(f"{name}: expected its own writer's row and cairn's, got "
                            f"{[row['writer'] for row in mine]}")
        for row in mine:
            if len(row["seconds"]) != repeat or not all(s > 0 for s in row["seconds"]):
                problems.append(f"{name}, {row['writer']}: {row['seconds']}")
            if row["bytes"] <= 0:
                problems.append(f"{name}, {row['writer']}: no bytes on disk")
    for problem in problems:
        print("check failed:", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
