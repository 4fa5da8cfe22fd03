"""A PyTorch training loop that checkpoints with cairn and resumes exactly where it stopped: the
Python twin of the C++ demo (examples/demo).

    python examples/train_resume.py --dir runs/py-demo            # train (or resume) to the end
    python examples/train_resume.py --dir runs/py-demo --die-at-batch 70   # dies like kill -9

Run it, kill it at any moment (Ctrl-C, kill -9), run the same command again: it restores the
newest valid checkpoint (model, Adam, LR scheduler, RNG, position inside the epoch) and finishes
with the same weights as a run that never stopped. --final writes those weights to a file.
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
                        help="seconds between saves inside an epoch")
    parser.add_argument("--die-at-batch", type=int, default=None,
                        help="SIGKILL this process before global batch N (a crash)")
    parser.add_argument("--final", help="write the final model state here (safetensors)")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


class Training:
    """Model, optimizer, scheduler and position; cairn's trainer protocol."""

    def __init__(self, seed):
        torch.manual_seed(seed)
        self.model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=3e-3)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=0.9)
        data = torch.Generator().manual_seed(seed)
        self.inputs = torch.randn(1024, 16, generator=data)
        self.targets = (self.inputs[:, :4].sum(dim=1, keepdim=True)).tanh()
        self.seed = seed

    def get_checkpoint_state(self):
        return self.model.state_dict(), {"optimizer": self.optimizer.state_dict(),
                                         "scheduler": self.scheduler.state_dict()}

    def load(self, model_state, training_state):
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(training_state["optimizer"])
        self.scheduler.load_state_dict(training_state["scheduler"])

    def batches(self, epoch, count):
        # The order of an epoch depends only on (seed, epoch), so a resumed epoch sees the same.
        order = torch.randperm(len(self.inputs), generator=torch.Generator().manual_seed(self.seed * 1000 + epoch))
        return order.split(len(self.inputs) // count)[:count]

    def step(self, batch):
        self.optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(self.model(self.inputs[batch]), self.targets[batch])
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def validation_loss(self):
        with torch.no_grad():
            return torch.nn.functional.mse_loss(self.model(self.inputs[:256]), self.targets[:256]).item()


def main(argv=None):
    args = parse_args(argv)
    say = (lambda *a: None) if args.quiet else print
    training = Training(args.seed)
    checkpointer = cairn.Checkpointer(args.dir, num_serialized_models_to_keep=2,
                                      model_save_interval=args.save_interval,
                                      keep_best_k=1, metric="val_loss", mode="min")
    model_state, training_state = checkpointer.restore_checkpoint()
    first_epoch, skip = 0, 0
    if training_state:
        training.load(model_state, training_state)
        first_epoch = training_state["epoch"]
        skip = training_state.get("batches_this_epoch")
        if skip is None:  # an end-of-epoch save: the next epoch starts
            first_epoch, skip = first_epoch + 1, 0
        say(f"resuming at epoch {first_epoch}, batch {skip}")

    for epoch in range(first_epoch, args.epochs):
        for index, batch in enumerate(training.batches(epoch, args.batches)):
            if index < skip:
                continue
            global_batch = epoch * args.batches + index
            if args.die_at_batch is not None and global_batch == args.die_at_batch:
                say(f"dying at epoch {epoch}, batch {index}")
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            training.step(batch)
            checkpointer.maybe_save_checkpoint(training, epoch, index + 1)
        skip = 0
        training.scheduler.step()
        val_loss = training.validation_loss()
        checkpointer.save_checkpoint(epoch, training, metrics={"val_loss": val_loss})
        say(f"epoch {epoch}: val_loss {val_loss:.5f}")

    for decision in checkpointer.explain_retention():
        say(f"  {decision.name}: {decision.reason}")
    if args.final:
        cairn.save_file(training.model.state_dict(), args.final)


if __name__ == "__main__":
    main()
