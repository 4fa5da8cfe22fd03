"""cairn.Checkpointer against torch.save/torch.load for the same training state, in one process.

    PYTHONPATH=build/python .venv/bin/python bench/python_vs_torch.py [--mib 256] [--runs 5]

The state is a model (a stack of linear layers) plus its Adam state, about --mib MiB in all.
Contenders alternate within each repetition; the table gives medians. Saves are durable on both
sides (torch.save to an open file, then flush and fsync of the file and its directory; cairn's
save_checkpoint commits and fsyncs). Loads read warm from the page cache: torch.load, cairn's
restore with owned copies (copy=True), and cairn's zero-copy restore (copy=False, the default).
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import torch

import cairn


def make_state(mib):
    torch.manual_seed(0)
    width = 1024
    layers = max(1, (mib * 2**20) // (3 * 4 * width * width))  # weights + exp_avg + exp_avg_sq
    model = torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(layers)])
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(4, width)).sum().backward()
    optimizer.step()
    return model.state_dict(), {"optimizer": optimizer.state_dict(), "epoch_counter": 1}


def over_tensors(value, measure):
    """The sum of measure(tensor) over every tensor in a state."""
    if isinstance(value, torch.Tensor):
        return measure(value)
    if isinstance(value, dict):
        return sum(over_tensors(v, measure) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(over_tensors(v, measure) for v in value)
    return 0


def state_bytes(value):
    return over_tensors(value, lambda t: t.numel() * t.element_size())


def touch_all(value):
    """Reads one element of every 4 KiB page of every tensor, so lazy mappings are paid for."""
    def touch(tensor):
        stride = max(1, 4096 // tensor.element_size())
        return float(tensor.reshape(-1)[::stride].double().sum()) if tensor.numel() else 0.0
    return over_tensors(value, touch)


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def torch_save(state, path):
    with open(path, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(os.path.dirname(path))


def timed(action):
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="size of the state (MiB)")
    parser.add_argument("--runs", type=int, default=5, help="repetitions (median reported)")
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary folder)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    model_state, training_state = make_state(args.mib)
    total = state_bytes(model_state) + state_bytes(training_state)

    class Trainer:
        def get_checkpoint_state(self):
            return model_state, training_state

    work = tempfile.mkdtemp(prefix="cairn-bench-", dir=args.dir)
    torch_path = os.path.join(work, "torch.pt")
    checkpointer = cairn.Checkpointer(os.path.join(work, "cairn"), num_serialized_models_to_keep=1)
    times = {name: [] for name in ("torch.save+fsync", "cairn save_checkpoint", "torch.load",
                                   "cairn restore (copy)", "cairn restore (zero-copy)")}
    for run in range(args.runs):
        saves = [("torch.save+fsync", lambda: torch_save({"model": model_state, "training": training_state}, torch_path)),
                 ("cairn save_checkpoint", lambda: checkpointer.save_checkpoint(run, Trainer()))]
        loads = [("torch.load", lambda: touch_all(torch.load(torch_path))),
                 ("cairn restore (copy)",
                  lambda: touch_all(checkpointer.restore_checkpoint(copy=True))),
                 ("cairn restore (zero-copy)", lambda: touch_all(checkpointer.restore_checkpoint(copy=False)))]
        if run % 2:  # alternate the order of the contenders
            saves.reverse()
            loads.reverse()
        for name, action in saves + loads:
            times[name].append(timed(action))

    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"state: {total / 2**20:.0f} MiB in {len(model_state)} model tensors + Adam state; "
          f"median of {args.runs} runs, contenders alternated; loads warm (page cache)")
    print(f"{'contender':28} {'median s':>9} {'GB/s':>7} {'vs torch':>9}")
    for name, seconds in medians.items():
        baseline = medians["torch.save+fsync"] if "save" in name else medians["torch.load"]
        print(f"{name:28} {seconds:9.3f} {total / seconds / 1e9:7.2f} {baseline / seconds:8.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bytes": total, "runs": args.runs, "median_seconds": medians}, f, indent=2)


if __name__ == "__main__":
    main()
