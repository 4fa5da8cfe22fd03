"""A PyTorch Lightning run that checkpoints with cairn and resumes exactly where it stopped.

    python examples/lightning_resume.py --dir runs/pl-demo        # train (or resume) to the end

Kill it at any moment (Ctrl-C, kill -9) and run the same command again: ``fit(ckpt_path="last")``
restores the newest checkpoint in --dir that verifies (weights, AdamW, the LR schedule, the
loops, the callbacks, the random generators, the position inside the epoch) and the run ends
with the same weights, byte for byte, as one that never stopped. --final writes them to a file.

cairn is switched on by two lines, marked below: the CheckpointIO plugin (no pickle; each
checkpoint atomic and checksummed) and the checkpoint callback (cairn's retention). With
``--writer io`` Lightning's own ModelCheckpoint decides what is kept and only the plugin is
cairn's: each path it names (``last.ckpt``, ``epoch=0-step=10.ckpt``) is a cairn folder.

What Lightning does not do by itself, and this script adds, for a resume to be exact:
- Lightning does not save random generators: the module puts ``cairn.RngState()`` into every
  checkpoint (``on_save_checkpoint``) and restores it (``on_load_checkpoint``), for dropout;
- a plain DataLoader restarts its epoch from the first batch after a mid-epoch resume (Lightning
  warns so): ``ResumableLoader`` has the ``state_dict``/``load_state_dict`` Lightning saves and
  restores, and an order that depends on (seed, epoch) only, so it skips what was trained on;
- the loaders draw their worker seeds from generators of their own, not from torch's global one
  (which dropout draws from); one CPU thread, so sums are done in the same order in every run.
"""
import argparse
import os
import sys

import lightning.pytorch as pl
import torch

import cairn
from cairn.lightning import CairnCheckpointIO, CairnModelCheckpoint


class EpochOrder(torch.utils.data.Sampler):
    """A shuffle that depends only on (seed, epoch); Lightning calls ``set_epoch`` each epoch.
    ``skip`` drops that many first indices from the next pass (a resumed epoch)."""

    def __init__(self, size, seed):
        self.size, self.seed, self.epoch, self.skip = size, seed, 0, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(
            self.seed * 1000 + self.epoch)).tolist()
        skip, self.skip = self.skip, 0
        return iter(order[skip:])

    def __len__(self):
        return self.size


class ResumableLoader(torch.utils.data.DataLoader):
    """A DataLoader Lightning resumes mid-epoch: its state (epoch, batches trained) is saved with
    every checkpoint and given back before the loader is iterated again."""

    def __init__(self, dataset, batch_size, seed):
        self.order = EpochOrder(len(dataset), seed)
        super().__init__(dataset, batch_size=batch_size, sampler=self.order,
                         generator=torch.Generator().manual_seed(seed))
        self.trained = 0  # batches of this epoch trained on: set by the module

    def state_dict(self):
        return {"epoch": self.order.epoch, "batches": self.trained}

    def load_state_dict(self, state):
        epoch, batches = state["epoch"], state["batches"]
        if batches >= len(self):  # saved after the epoch's last batch: the next one starts
            epoch, batches = epoch + 1, 0
        self.order.set_epoch(epoch)
        self.order.skip, self.trained = batches * self.batch_size, batches


class Regression(pl.LightningModule):
    def __init__(self, seed=7, batches=40, epochs=4, lr=3e-3):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(),
                                       torch.nn.Dropout(0.1), torch.nn.Linear(64, 1))
        inputs = torch.randn(32 * batches, 16, generator=torch.Generator().manual_seed(seed))
        self.data = torch.utils.data.TensorDataset(inputs, inputs[:, :4].sum(1, keepdim=True).tanh())

    def train_dataloader(self):
        return ResumableLoader(self.data, 32, self.hparams.seed)

    def val_dataloader(self):
        head = torch.utils.data.Subset(self.data, range(min(256, len(self.data))))
        return torch.utils.data.DataLoader(head, batch_size=256, generator=torch.Generator())

    def on_train_batch_start(self, batch, batch_idx):
        self.trainer.train_dataloader.trained = batch_idx + 1

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        return torch.nn.functional.mse_loss(self.net(inputs), targets)

    def validation_step(self, batch, batch_idx):
        inputs, targets = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(inputs), targets))

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=0.01)
        steps = self.hparams.batches * self.hparams.epochs
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.hparams.lr,
                                                       total_steps=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint):
        checkpoint["rng"] = cairn.RngState().state_dict()  # Lightning saves no generator

    def on_load_checkpoint(self, checkpoint):
        cairn.RngState().load_state_dict(checkpoint["rng"])


class Announce(pl.Callback):
    """Says where training starts (the protocol of tests/integrations/harness.py)."""

    said = False

    def on_train_start(self, trainer, pl_module):
        self.say(trainer)
        print(f"training from epoch {trainer.current_epoch}, step {trainer.global_step}")
        sys.stdout.flush()

    def on_fit_end(self, trainer, pl_module):  # a resume with nothing left to train
        self.say(trainer)

    def say(self, trainer):
        if trainer.ckpt_path and not self.said:
            print(f"resumed from {trainer.ckpt_path} at step {trainer.global_step}")
        self.said = True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="checkpoint directory")
    parser.add_argument("--final", help="write the final weights here (safetensors)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batches", type=int, default=40, help="batches per epoch")
    parser.add_argument("--every", type=int, default=7, help="save every this many steps")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--writer", choices=["callback", "io"], default="callback")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    pl.seed_everything(args.seed, verbose=False)

    if args.writer == "callback":   # cairn's retention: the newest 2, the best 2 by val_loss
        checkpoints = CairnModelCheckpoint(dirpath=args.dir, monitor="val_loss", save_top_k=2,
                                           num_serialized_models_to_keep=2,
                                           every_n_train_steps=args.every, every_n_epochs=1)
    else:                           # Lightning's: last.ckpt and the newest epoch=..-step=..
        checkpoints = pl.callbacks.ModelCheckpoint(dirpath=args.dir, save_last=True,
                                                   every_n_train_steps=args.every)
    trainer = pl.Trainer(max_epochs=args.epochs, accelerator="cpu", devices=1,
                         deterministic=True, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0,
                         plugins=[CairnCheckpointIO()],           # cairn writes every checkpoint
                         callbacks=[checkpoints, Announce()])
    model = Regression(args.seed, args.batches, args.epochs)
    trainer.fit(model, ckpt_path="last")

    if args.final:
        cairn.save_file(model.state_dict(), args.final)
    print(f"done after {trainer.global_step} steps; in {args.dir}: {sorted(os.listdir(args.dir))}")


if __name__ == "__main__":
    main()
