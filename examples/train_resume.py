"""A PyTorch training loop that checkpoints with cairn and resumes exactly where it stopped: the
Python twin of the C++ demo (examples/demo), on cairn's plain-loop API.

    python examples/train_resume.py --dir runs/py-demo            # train (or resume) to the end
    python examples/train_resume.py --dir runs/py-demo --die-at-batch 70   # dies like kill -9

Run it, kill it at any moment (Ctrl-C, kill -9), run the same command again: it restores the
newest valid checkpoint in place (model, AdamW, the warm-up/cosine schedule, every random
generator, the position inside the epoch) and finishes with the same weights, byte for byte, as
a run that never stopped. --final writes those weights to a file.

What makes a resumed run draw exactly what an uninterrupted one would:
- the model has dropout, which draws from torch's global generator: cairn.RngState() saves and
  restores it (with Python's and NumPy's);
- the DataLoader shuffles with a generator of its own, seeded from (seed, epoch) at the start of
  each epoch, so the order of an epoch does not depend on how many numbers were drawn before it;
  the resumed epoch replays that order and skips the batches already trained on;
- one CPU thread, so the floating-point sums are done in the same order in every run.
"""
import argparse
import os
import signal
import sys

import torch

import cairn


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="serialization directory")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batches", type=int, default=40, help="batches per epoch")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--save-interval", type=float, default=1.0,
                        help="seconds between saves inside an epoch (0: after every batch)")
    parser.add_argument("--die-at-batch", type=int, default=None,
                        help="SIGKILL this process before global batch N (a crash)")
    parser.add_argument("--final", help="write the final model state here (safetensors)")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def make_training(seed, batches_per_epoch, epochs):
    """The model, AdamW with a linear warm-up then cosine decay (stepped every batch), and a
    shuffling loader over a fixed synthetic regression set."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                torch.nn.Linear(64, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    warmup = max(1, batches_per_epoch // 2)
    scheduler = torch.optim.lr_scheduler.SequentialLR(
        optimizer,
        [torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=warmup),
         torch.optim.lr_scheduler.CosineAnnealingLR(optimizer,
                                                    T_max=batches_per_epoch * epochs - warmup)],
        milestones=[warmup])
    inputs = torch.randn(32 * batches_per_epoch, 16, generator=torch.Generator().manual_seed(seed))
    targets = inputs[:, :4].sum(dim=1, keepdim=True).tanh()
    shuffling = torch.Generator()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs, targets),
                                         batch_size=32, shuffle=True, generator=shuffling)
    return model, optimizer, scheduler, loader, shuffling


def validation_loss(model, loader):
    model.eval()
    with torch.no_grad():
        inputs, targets = loader.dataset.tensors
        loss = torch.nn.functional.mse_loss(model(inputs[:256]), targets[:256]).item()
    model.train()
    return loss


def main(argv=None):
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else print
    torch.set_num_threads(1)
    model, optimizer, scheduler, loader, shuffling = make_training(args.seed, args.batches,
                                                                   args.epochs)
    checkpointer = cairn.Checkpointer(args.dir, num_serialized_models_to_keep=2,
                                      model_save_interval=args.save_interval,
                                      keep_best_k=1, metric="val_loss", mode="min")
    state = {"model": model, "optimizer": optimizer, "scheduler": scheduler,
             "rng": cairn.RngState(), "step": 0}
    info = checkpointer.restore(state)  # in place; None when there is no checkpoint yet
    first_epoch, skip = (0, 0) if info is None else (info.resume_epoch, info.resume_batches)
    if info is not None:
        say(f"resuming at epoch {first_epoch}, batch {skip} (step {state['step']}, "
            f"from {info.name})")
    say(f"training from epoch {first_epoch}, batch {skip}")
    sys.stdout.flush()

    for epoch in range(first_epoch, args.epochs):
        shuffling.manual_seed(args.seed * 1000 + epoch)
        for index, (inputs, targets) in enumerate(loader):
            if epoch == first_epoch and index < skip:
                continue  # trained on before the checkpoint
            if args.die_at_batch is not None and epoch * args.batches + index == args.die_at_batch:
                say(f"dying at epoch {epoch}, batch {index}")
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            loss = torch.nn.functional.mse_loss(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            state["step"] += 1
            checkpointer.maybe_save(state, epoch=epoch, batches_this_epoch=index + 1)
        val_loss = validation_loss(model, loader)
        checkpointer.save(state, epoch=epoch, metrics={"val_loss": val_loss})
        say(f"epoch {epoch}: val_loss {val_loss:.5f}, lr {scheduler.get_last_lr()[0]:.6f}")
        sys.stdout.flush()

    checkpointer.wait()
    for decision in checkpointer.explain_retention():
        say(f"  {decision.name}: {decision.reason}")
    if args.final:
        cairn.save_file(model.state_dict(), args.final)
    say(f"done after {state['step']} steps")


if __name__ == "__main__":
    main()
