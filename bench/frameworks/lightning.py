"""Lightning's checkpoint step with its own writer against cairn's, on a GPT-2 with AdamW moments,
for bench/framework_checkpoints.py.

Both writers time ``trainer.save_checkpoint(path)``, the call Lightning's ModelCheckpoint makes:
Lightning builds its checkpoint dict (weights, AdamW, loops, callbacks) and hands it to the
trainer's CheckpointIO, either Lightning's default ``TorchCheckpointIO`` (one torch.save zip,
not fsynced) or ``cairn.lightning.CairnCheckpointIO`` (one atomic cairn checkpoint, checksummed,
its files and folders fsynced before it is published). The two alternate within each
repetition on the same trainer; each checkpoint is deleted after it is timed.

Import this module as part of a package (``frameworks.lightning``) or by path: run from its own
folder it would shadow the ``lightning`` package it measures.
"""
import os
import pathlib
import shutil
import time

from . import timing

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _bytes(path: pathlib.Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def _fitted(config):
    """A Trainer on the CPU that has fit the seeded GPT-2 for one AdamW step (so the moments
    exist), with its model still attached."""
    import lightning.pytorch as pl
    import torch
    import transformers

    class GPT2Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = transformers.GPT2LMHeadModel(config)

        def training_step(self, batch, batch_idx):
            (tokens,) = batch
            return self.model(input_ids=tokens, labels=tokens).loss

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=1e-4)

    torch.manual_seed(0)
    module = GPT2Module()
    tokens = torch.randint(0, config.vocab_size, (1, min(16, config.n_positions)),
                           generator=torch.Generator().manual_seed(0))
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(module, torch.utils.data.DataLoader(torch.utils.data.TensorDataset(tokens)))
    return trainer


def measure(workdir: pathlib.Path, config, repeats: int) -> list:
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    from cairn.lightning import CairnCheckpointIO

    workdir = pathlib.Path(workdir)
    trainer = _fitted(config)
    step = "trainer.save_checkpoint(path)"
    own = {"framework": "lightning", "writer": "TorchCheckpointIO (torch.save, no fsync)",
           "step": step, "seconds": [], "seconds_until_on_disk": [], "bytes": 0}
    ours = {"framework": "lightning", "writer": "CairnCheckpointIO (fsync)", "step": step,
            "seconds": [], "bytes": 0}
    writers = [(TorchCheckpointIO(), own, "torch"), (CairnCheckpointIO(), ours, "cairn")]
    for repetition in range(repeats):
        for writer, result, name in writers:
            trainer.strategy.checkpoint_io = writer
            path = workdir / f"{name}-{repetition}.ckpt"
            timing.settle()
            start = time.perf_counter()
            trainer.save_checkpoint(path)
            result["seconds"].append(time.perf_counter() - start)
            if "seconds_until_on_disk" in result:
                result["seconds_until_on_disk"].append(timing.until_on_disk(start))
            result["bytes"] = _bytes(path)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    return [own, ours]
