"""A real torch.nn model with Adam and an LR scheduler: training resumed from a cairn checkpoint
continues with exactly the losses of a run that never stopped."""
import torch

import cairn


def make_parts(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler


def data():
    generator = torch.Generator().manual_seed(1234)
    inputs = torch.randn(64, 8, generator=generator)
    return inputs, inputs.sum(dim=1, keepdim=True).sin()


class Trainer:
    def __init__(self, model, optimizer, scheduler):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler

    def get_checkpoint_state(self):
        return self.model.state_dict(), {"optimizer": self.optimizer.state_dict(),
                                         "scheduler": self.scheduler.state_dict(),
                                         "rng": torch.get_rng_state()}


def train_epoch(model, optimizer, scheduler):
    inputs, targets = data()
    losses = []
    for batch in torch.randperm(64).split(16):  # the global RNG decides the order
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(inputs[batch]), targets[batch])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    scheduler.step()
    return losses


def test_resumed_training_repeats_the_uninterrupted_losses(tmp_path):
    uninterrupted = make_parts()
    expected = [train_epoch(*uninterrupted) for _ in range(6)]

    parts = make_parts()
    checkpointer = cairn.Checkpointer(tmp_path / "run")
    for epoch in range(3):
        train_epoch(*parts)
        checkpointer.save_checkpoint(epoch, Trainer(*parts))
    del parts, checkpointer  # "the process stops"

    model, optimizer, scheduler = make_parts(seed=99)  # different initial weights and RNG
    model_state, training_state = cairn.Checkpointer(tmp_path / "run").restore_checkpoint()
    model.load_state_dict(model_state)
    optimizer.load_state_dict(training_state["optimizer"])
    scheduler.load_state_dict(training_state["scheduler"])
    torch.set_rng_state(training_state["rng"])
    start = training_state["epoch"] + 1
    resumed = [train_epoch(model, optimizer, scheduler) for _ in range(start, 6)]
    assert resumed == expected[3:]
    assert optimizer.param_groups[0]["lr"] == uninterrupted[1].param_groups[0]["lr"]
    for name, tensor in uninterrupted[0].state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_zero_copy_restore_loads_into_a_model(tmp_path):
    model, optimizer, scheduler = make_parts()
    checkpointer = cairn.Checkpointer(tmp_path / "run")
    checkpointer.save_checkpoint(0, Trainer(model, optimizer, scheduler))
    other, _, _ = make_parts(seed=5)
    model_state, _ = checkpointer.restore_checkpoint(copy=False)
    other.load_state_dict(model_state)  # copies out of the mapping into the parameters
    for name, tensor in model.state_dict().items():
        assert torch.equal(other.state_dict()[name], tensor)
