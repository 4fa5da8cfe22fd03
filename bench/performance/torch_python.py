"""Python's torch.save (+fsync) and torch.load of the tensors a spec names, timed in-process.

    python torch_python.py SPEC.json FILE

SPEC.json: {"tensors": [[name, [shape...]], ...]} (float32). Builds the tensors (touched),
saves them as one dict {name: tensor} with torch.save to FILE, flushes and fsyncs the file and
its folder, then loads it back with torch.load (page cache warm) and reads one element of every
tensor. Prints one JSON line: {"save": s, "load": s, "save_peak_growth": bytes,
"load_peak_growth": bytes} (peak resident memory over the resident memory before each step).
"""
import json
import os
import sys
import time

import torch


def status_bytes(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def measured(action):
    """(seconds, peak resident growth) of action()."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass
    before = status_bytes("VmRSS")
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    return seconds, max(0, status_bytes("VmHWM") - before), result


def main():
    spec_path, file = sys.argv[1], sys.argv[2]
    with open(spec_path) as spec_file:
        spec = json.load(spec_file)
    torch.manual_seed(0)
    tensors = {name: torch.rand(shape) for name, shape in spec["tensors"]}

    def save():
        with open(file, "wb") as out:
            torch.save(tensors, out)
            out.flush()
            os.fsync(out.fileno())
        folder = os.open(os.path.dirname(os.path.abspath(file)), os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(folder)
        os.close(folder)

    def load():
        loaded = torch.load(file)
        return sum(float(t.view(-1)[0]) for t in loaded.values() if t.numel())

    save_seconds, save_growth, _ = measured(save)
    load_seconds, load_growth, _ = measured(load)
    os.remove(file)
    print(json.dumps({"save": save_seconds, "load": load_seconds,
                      "save_peak_growth": save_growth, "load_peak_growth": load_growth}))


if __name__ == "__main__":
    main()
