"""The plain-loop API: Checkpointer.save / maybe_save / restore(state) / wait, RngState and
CheckpointInfo, on a real model, optimizer, scheduler and scaler."""
import os
import pickle
import random

import numpy as np
import pytest

import cairn

torch = pytest.importorskip("torch")

# The torch 2 venv sets this: there, load_state_dict keeps the optimizer's restored tensors.
TORCH2 = os.environ.get("CAIRN_EXPECT_TORCH_MAJOR") == "2"


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(11, 6)
        self.hidden = torch.nn.Linear(6, 6)
        self.norm = torch.nn.BatchNorm1d(6)
        self.head = torch.nn.Linear(6, 11, bias=False)
        self.head.weight = self.embed.weight  # tied: one tensor under two names

    def forward(self, tokens):
        return self.head(self.norm(torch.relu(self.hidden(self.embed(tokens)))))


def make_state(seed=0):
    torch.manual_seed(seed)
    model = Net()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return {"model": model, "optimizer": optimizer, "scheduler": scheduler,
            "rng": cairn.RngState(), "step": 0, "history": {"losses": [], "note": "x"}}


def train(state, steps):
    model, optimizer = state["model"], state["optimizer"]
    for _ in range(steps):
        tokens = torch.randint(0, 11, (8,))
        loss = torch.nn.functional.cross_entropy(model(tokens), tokens)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        state["scheduler"].step()
        state["step"] += 1
        state["history"]["losses"].append(loss.item())


def snapshot(state):
    return ({k: v.clone() for k, v in state["model"].state_dict().items()},
            {p: {k: v.clone() for k, v in s.items()} for p, s in
             state["optimizer"].state_dict()["state"].items()},
            state["scheduler"].state_dict(), state["step"], list(state["history"]["losses"]))


def assert_same(a, b):
    assert a[0].keys() == b[0].keys()
    for key in a[0]:
        assert torch.equal(a[0][key], b[0][key]), key
    assert a[1].keys() == b[1].keys()
    for param in a[1]:
        for key in a[1][param]:
            assert torch.equal(a[1][param][key], b[1][param][key]), (param, key)
    assert a[2:] == b[2:]


def test_restore_puts_every_entry_back_in_place(tmp_path):
    state = make_state()
    train(state, 3)
    checkpointer = cairn.Checkpointer(tmp_path)
    checkpointer.save(state, epoch=0, metrics={"val_loss": 0.5})
    saved = snapshot(state)
    train(state, 2)  # the state moves on
    weight, moment = state["model"].hidden.weight, state["optimizer"].state[state["model"].hidden.weight]["exp_avg"]
    addresses = (weight.data_ptr(), state["model"].norm.running_mean.data_ptr(), moment.data_ptr())

    info = cairn.Checkpointer(tmp_path).restore(state)

    assert isinstance(info, cairn.CheckpointInfo)
    assert (info.epoch, info.batches_this_epoch, info.resume_epoch, info.resume_batches) == (0, None, 1, 0)
    assert info.metrics == {"val_loss": 0.5}
    assert os.path.isdir(info.path) and info.name == os.path.basename(info.path)
    assert_same(snapshot(state), saved)
    # Parameters and buffers were overwritten where they live; the module holds the same tensors.
    assert state["model"].hidden.weight is weight
    assert (weight.data_ptr(), state["model"].norm.running_mean.data_ptr()) == addresses[:2]
    assert state["model"].head.weight.data_ptr() == state["model"].embed.weight.data_ptr()
    restored_moment = state["optimizer"].state[weight]["exp_avg"]
    if TORCH2:
        assert restored_moment.data_ptr() == addresses[2]
    assert state["history"] == {"losses": saved[4], "note": "x"} and state["step"] == 3


def test_a_resumed_run_trains_on_exactly_as_the_uninterrupted_one(tmp_path):
    uninterrupted = make_state()
    train(uninterrupted, 6)

    first = make_state()
    train(first, 4)
    cairn.Checkpointer(tmp_path).save(first, epoch=0)
    resumed = make_state(seed=123)  # a new process: other weights, other random numbers
    random.random(), np.random.rand(), torch.rand(3)
    assert cairn.Checkpointer(tmp_path).restore(resumed) is not None
    train(resumed, 2)

    assert_same(snapshot(resumed), snapshot(uninterrupted))


def test_an_optimizer_that_has_not_stepped_gets_writable_zero_copy_moments(tmp_path):
    state = make_state()
    train(state, 2)
    cairn.Checkpointer(tmp_path).save(state, epoch=0)
    saved = snapshot(state)
    fresh = make_state(seed=5)
    assert not fresh["optimizer"].state  # no moments to restore into

    cairn.Checkpointer(tmp_path).restore(fresh)

    assert_same(snapshot(fresh), saved)
    train(fresh, 1)  # the moments are written into: a copy-on-write mapping takes it
    model_file = cairn.Checkpointer(tmp_path).list_checkpoints()[-1].training_state_path
    assert cairn.load_file(model_file)["optimizer"]["state"][0]["step"] == saved[1][0]["step"]


def test_the_resume_rule_inside_and_at_the_end_of_an_epoch(tmp_path):
    state = make_state()
    checkpointer = cairn.Checkpointer(tmp_path, model_save_interval=0,
                                      num_serialized_models_to_keep=None)
    assert checkpointer.maybe_save(state, epoch=2, batches_this_epoch=17)
    info = cairn.Checkpointer(tmp_path).restore(state)
    assert (info.epoch, info.batches_this_epoch, info.resume_epoch, info.resume_batches) == (2, 17, 2, 17)
    checkpointer.save(state, epoch=2)
    info = cairn.Checkpointer(tmp_path).restore(state)
    assert (info.resume_epoch, info.resume_batches) == (3, 0)
    listed = checkpointer.list_checkpoints()
    assert [type(item) for item in listed] == [cairn.CheckpointInfo] * 2
    assert [item.batches_this_epoch for item in listed] == [17, None]
    assert checkpointer.last_restored() is None  # it never restored
    assert cairn.Checkpointer(tmp_path).last_restored() is None


def test_a_save_every_n_steps_is_inside_its_epoch_and_ranked_by_its_metrics(tmp_path):
    state = make_state()
    checkpointer = cairn.Checkpointer(tmp_path, num_serialized_models_to_keep=1, keep_best_k=1,
                                      metric="val_loss")
    for batches, loss in ((10, 0.3), (20, 0.8), (30, 0.5)):
        checkpointer.save(state, epoch=1, batches_this_epoch=batches, metrics={"val_loss": loss},
                          is_best_so_far=loss == 0.3)
    listed = checkpointer.list_checkpoints()
    assert [(item.batches_this_epoch, item.metrics["val_loss"], item.is_best) for item in listed] \
        == [(10, 0.3, True), (30, 0.5, False)]  # the best by val_loss, and the newest
    info = cairn.Checkpointer(tmp_path).restore(state)
    assert (info.resume_epoch, info.resume_batches) == (1, 30)


def test_restore_without_a_checkpoint_leaves_the_state_alone(tmp_path):
    state = make_state()
    before = snapshot(state)
    assert cairn.Checkpointer(tmp_path / "none").restore(state) is None
    assert_same(snapshot(state), before)


def test_a_corrupt_newest_checkpoint_falls_back_to_the_older_one(tmp_path):
    state = make_state()
    checkpointer = cairn.Checkpointer(tmp_path, num_serialized_models_to_keep=3)
    checkpointer.save(state, epoch=0)
    older = snapshot(state)
    train(state, 2)
    checkpointer.save(state, epoch=1)
    newest = checkpointer.list_checkpoints()[-1]
    with open(newest.model_path, "r+b") as file:
        file.seek(-3, os.SEEK_END)
        byte = file.read(1)
        file.seek(-3, os.SEEK_END)
        file.write(bytes([byte[0] ^ 0x10]))

    info = cairn.Checkpointer(tmp_path).restore(state)

    assert info.epoch == 0
    assert_same(snapshot(state), older)


def test_values_cairn_cannot_store_are_refused_before_anything_is_written(tmp_path):
    state = make_state()
    state["callback"] = {"on_step": lambda: None}
    with pytest.raises(cairn.InvalidArgumentError, match='"callback.on_step"'):
        cairn.Checkpointer(tmp_path).save(state, epoch=0)
    assert not os.path.exists(tmp_path / "checkpoints") or not os.listdir(tmp_path / "checkpoints")
    for reserved in ("epoch", "batches_this_epoch"):
        with pytest.raises(cairn.InvalidArgumentError, match=reserved):
            cairn.Checkpointer(tmp_path).save({reserved: 1}, epoch=0)
    with pytest.raises(cairn.InvalidArgumentError, match="dict of names"):
        cairn.Checkpointer(tmp_path).save([1, 2], epoch=0)


def test_a_name_the_checkpoint_lacks_is_an_error_naming_it(tmp_path):
    state = make_state()
    cairn.Checkpointer(tmp_path).save(state, epoch=0)
    state["ema"] = torch.nn.Linear(2, 2)
    with pytest.raises(cairn.InvalidArgumentError, match='holds no "ema"'):
        cairn.Checkpointer(tmp_path).restore(state)


def test_a_module_of_another_shape_is_refused_with_the_keys(tmp_path):
    cairn.Checkpointer(tmp_path).save({"model": torch.nn.Linear(3, 3)}, epoch=0)
    with pytest.raises(cairn.InvalidArgumentError, match="missing nothing; unexpected bias"):
        cairn.Checkpointer(tmp_path).restore({"model": torch.nn.Linear(3, 3, bias=False)})


def test_rng_state_gives_back_the_same_random_numbers(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached gaussian behind
    cairn.Checkpointer(tmp_path).save({"rng": cairn.RngState()}, epoch=0)
    expected = (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(),
                torch.rand(3).tolist())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)

    cairn.Checkpointer(tmp_path).restore({"rng": cairn.RngState()})

    assert (random.random(), random.gauss(0, 1), np.random.rand(3).tolist(),
            torch.rand(3).tolist()) == expected


def test_modules_go_to_the_model_file_so_best_holds_the_weights(tmp_path):
    state = make_state()
    checkpointer = cairn.Checkpointer(tmp_path)
    checkpointer.save(state, epoch=0, is_best_so_far=True)
    best = checkpointer.best_model_state()
    assert set(best) == {"model"}
    assert torch.equal(best["model"]["hidden.weight"], state["model"].hidden.weight)
    training = cairn.load_file(checkpointer.list_checkpoints()[-1].training_state_path)
    assert {"optimizer", "scheduler", "rng", "step", "history"} <= set(training)


def test_nothing_is_pickled_on_save_or_restore(tmp_path, monkeypatch):
    state = make_state()
    train(state, 1)

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    for name in ("dumps", "loads", "dump", "load", "Pickler", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "save", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    checkpointer = cairn.Checkpointer(tmp_path, async_save=True)
    checkpointer.save(state, epoch=0)
    checkpointer.wait()
    assert cairn.Checkpointer(tmp_path).restore(make_state(seed=4)).epoch == 0


def test_bfloat16_and_non_contiguous_tensors_round_trip(tmp_path):
    model = torch.nn.Linear(4, 3).to(torch.bfloat16)
    model.register_buffer("transposed", torch.arange(12.0).reshape(3, 4).t())  # not contiguous
    cairn.Checkpointer(tmp_path).save({"model": model}, epoch=0)
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    weight = model.weight
    with torch.no_grad():
        model.weight.zero_()
        model.transposed.zero_()

    cairn.Checkpointer(tmp_path).restore({"model": model})

    assert model.weight is weight and model.weight.dtype == torch.bfloat16
    for key, value in expected.items():
        assert torch.equal(model.state_dict()[key], value), key


def make_scaler():
    """A gradient scaler that works on the CPU: torch.amp.GradScaler("cpu") from torch 2.3; on
    older torch only CUDA's exists, which disables itself (an empty state) without CUDA."""
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available; disabling"
        return torch.cuda.amp.GradScaler(init_scale=1024.0, growth_interval=1)


def test_a_grad_scaler_comes_back_with_its_scale_and_growth_tracker(tmp_path):
    state = make_state()
    state["scaler"] = make_scaler()
    model, optimizer, scaler = state["model"], state["optimizer"], state["scaler"]
    for _ in range(3):
        tokens = torch.randint(0, 11, (8,))
        optimizer.zero_grad()
        scaler.scale(torch.nn.functional.cross_entropy(model(tokens), tokens)).backward()
        scaler.step(optimizer)
        scaler.update()
    saved = scaler.state_dict()
    if TORCH2:
        assert saved["scale"] == 1024.0 * 2 ** 3  # grew after every step: the state is real
    cairn.Checkpointer(tmp_path).save(state, epoch=0)

    resumed = make_state(seed=3)
    resumed["scaler"] = make_scaler()
    cairn.Checkpointer(tmp_path).restore(resumed)

    assert resumed["scaler"].state_dict() == saved
