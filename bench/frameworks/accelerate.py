"""Accelerate's checkpoint step against cairn's, on a GPT-2 with AdamW moments, for
bench/framework_checkpoints.py.

The two writers time the call a training loop pays for a checkpoint of everything
``accelerator.save_state`` saves (weights, AdamW, RNG states): Accelerate's own
``accelerator.save_state(dir)`` (model.safetensors, then optimizer.bin and random_states_0.pkl
through torch.save; nothing is fsynced) and ``cairn.accelerate.CairnState.save`` (one atomic
checkpoint, checksummed, its files and folders fsynced before it is published). They alternate
within each repetition; each checkpoint is deleted after it is timed.

Import this module as part of a package (``frameworks.accelerate``) or by path: run from its
own folder it would shadow the ``accelerate`` package it measures.
"""
import os
import pathlib
import shutil
import time

from . import timing

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _bytes(folder: pathlib.Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _prepared(config):
    """An Accelerator on the CPU with the seeded GPT-2 and an AdamW that has taken one step."""
    import torch
    import transformers
    from accelerate import Accelerator

    torch.manual_seed(0)
    accelerator = Accelerator(cpu=True)
    model = transformers.GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model, optimizer = accelerator.prepare(model, optimizer)
    tokens = torch.randint(0, config.vocab_size, (1, min(16, config.n_positions)),
                           generator=torch.Generator().manual_seed(0))
    accelerator.backward(model(input_ids=tokens, labels=tokens).loss)
    optimizer.step()
    optimizer.zero_grad()
    return accelerator


def measure(workdir: pathlib.Path, config, repeats: int) -> list:
    import cairn.accelerate

    workdir = pathlib.Path(workdir)
    accelerator = _prepared(config)
    own = {"framework": "accelerate", "writer": "accelerator.save_state (safetensors + "
           "torch.save, no fsync)", "step": "accelerator.save_state(dir)", "seconds": [],
           "seconds_until_on_disk": [], "bytes": 0}
    ours = {"framework": "accelerate", "writer": "cairn.accelerate (fsync)",
            "step": "CairnState(accelerator, dir).save(epoch=0)", "seconds": [], "bytes": 0}
    for repetition in range(repeats):
        folder = workdir / f"accelerate-{repetition}"
        timing.settle()
        start = time.perf_counter()
        accelerator.save_state(str(folder))
        own["seconds"].append(time.perf_counter() - start)
        own["seconds_until_on_disk"].append(timing.until_on_disk(start))
        own["bytes"] = _bytes(folder)
        shutil.rmtree(folder)

        folder = workdir / f"cairn-{repetition}"
        state = cairn.accelerate.CairnState(accelerator, folder)
        timing.settle()
        start = time.perf_counter()
        state.save(epoch=0)
        ours["seconds"].append(time.perf_counter() - start)
        ours["bytes"] = _bytes(folder)
        del state
        shutil.rmtree(folder)
    return [own, ours]
