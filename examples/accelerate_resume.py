"""A Hugging Face Accelerate training loop that checkpoints with cairn and resumes exactly where
it stopped.

    python examples/accelerate_resume.py --dir runs/accelerate     # train (or resume) to the end

Kill it at any moment (Ctrl-C, kill -9) and run the same command again: cairn.accelerate
restores the newest valid checkpoint in place (the model, AdamW, the schedule, every random
generator, the registered progress counter, the dataloader's pass) and the loop skips the
batches of the resumed epoch it already trained on, with accelerator.skip_first_batches. It ends
with the same weights, byte for byte, as a run that never stopped (--final writes them).

Where Accelerate's own loop would call accelerator.save_state(dir) and load_state(dir), this
one calls state.save(...) and state.load(): two lines, marked "cairn" below.

What makes a resumed run draw exactly what an uninterrupted one would:
- use_seedable_sampler=True: the order of epoch e is a function of (seed, e), and
  loader.set_epoch(epoch) says which e; Accelerate's default sampler draws an epoch's order at
  its first batch, which a save inside the epoch cannot give back;
- the DataLoader has a generator of its own: torch draws a seed from it (or else from the global
  generator that dropout draws from) every time an epoch starts, and a resumed epoch starts once
  more than the uninterrupted one did;
- one CPU thread, so floating-point sums are done in the same order in every run.
"""
import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from accelerate import Accelerator, DataLoaderConfiguration

import cairn
import cairn.accelerate


class Progress:
    """Registered with accelerator.register_for_checkpointing: the steps done, and the loss of
    each epoch's end."""

    def __init__(self):
        self.step, self.val_losses = 0, []

    def state_dict(self):
        return {"step": self.step, "val_losses": list(self.val_losses)}

    def load_state_dict(self, state):
        self.step, self.val_losses = int(state["step"]), list(state["val_losses"])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="cairn's checkpoint directory")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batches", type=int, default=100, help="batches per epoch")
    parser.add_argument("--save-every", type=int, default=5, help="save every this many batches")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--final", help="write the final weights here (safetensors)")
    parser.add_argument("--order-log", help="append 'epoch batch sample-ids' for each batch")
    return parser.parse_args(argv)


def make_training(seed, batches, epochs):
    """A small MLP with dropout, AdamW with a linear decay, and a shuffling loader over a fixed
    synthetic regression set whose third column is each sample's id."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 256), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.1, total_iters=batches * epochs)
    inputs = torch.randn(32 * batches, 8, generator=torch.Generator().manual_seed(seed))
    targets = inputs[:, :3].sum(dim=1, keepdim=True).sin()
    dataset = torch.utils.data.TensorDataset(inputs, targets, torch.arange(len(inputs)))
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True,
                                         generator=torch.Generator())
    return model, optimizer, scheduler, loader


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    accelerator = Accelerator(cpu=True, dataloader_config=DataLoaderConfiguration(
        use_seedable_sampler=True, data_seed=args.seed))
    model, optimizer, scheduler, loader = accelerator.prepare(
        *make_training(args.seed, args.batches, args.epochs))
    progress = Progress()
    accelerator.register_for_checkpointing(progress)

    state = cairn.accelerate.CairnState(accelerator, args.dir, num_serialized_models_to_keep=2,
                                        keep_best_k=1, metric="val_loss")           # cairn
    info = state.load()  # in place; None on a fresh start                         # cairn
    first_epoch, skip = (0, 0) if info is None else (info.resume_epoch, info.resume_batches)
    if info is not None:
        print(f"resumed from {info.name} at step {progress.step}")
    print(f"training from epoch {first_epoch}, batch {skip}")
    sys.stdout.flush()
    order_log = open(args.order_log, "a") if args.order_log else None

    for epoch in range(first_epoch, args.epochs):
        model.train()
        loader.set_epoch(epoch)
        resumed = epoch == first_epoch and skip > 0
        batches = accelerator.skip_first_batches(loader, skip) if resumed else loader
        for index, (inputs, targets, ids) in enumerate(batches, start=skip if resumed else 0):
            loss = torch.nn.functional.mse_loss(model(inputs), targets)
            optimizer.zero_grad()
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            progress.step += 1
            if order_log:
                order_log.write(f"{epoch} {index} {','.join(map(str, ids.tolist()))}\n")
                order_log.flush()
            if (index + 1) % args.save_every == 0:
                state.save(epoch=epoch, batches_this_epoch=index + 1)
        model.eval()
        with torch.no_grad():
            inputs, targets, _ = loader.dataset.tensors
            val_loss = torch.nn.functional.mse_loss(model(inputs), targets).item()
        progress.val_losses.append(val_loss)
        state.save(epoch=epoch, metrics={"val_loss": val_loss})
        print(f"epoch {epoch}: val_loss {val_loss:.5f}")
        sys.stdout.flush()

    state.wait()
    if args.final:
        cairn.save_file(accelerator.unwrap_model(model).state_dict(), args.final)
    print(f"done after {progress.step} steps")


if __name__ == "__main__":
    main()
