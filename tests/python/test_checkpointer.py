"""cairn.Checkpointer from Python: AllenNLP 2.4's API and trainer protocol, registration, the
retention rules and policies, the errors."""
import contextlib
import logging

import pytest
import torch

import cairn
from conftest import DictTrainer, epoch_of_name


def epochs_kept(checkpointer):
    return [info.epoch for info in checkpointer.list_checkpoints()]


def test_allennlp_api_save_find_restore_best(run_dir):
    checkpointer = cairn.Checkpointer(run_dir)
    assert checkpointer.find_latest_checkpoint() is None
    assert checkpointer.restore_checkpoint() == ({}, {})  # AllenNLP's "nothing to restore"
    assert checkpointer.best_model_state() == {}
    for epoch in range(3):
        trainer = DictTrainer({"w": torch.full((3,), float(epoch))}, {"counter": epoch * 10})
        checkpointer.save_checkpoint(epoch, trainer, is_best_so_far=(epoch == 1))
    model_path, training_path = checkpointer.find_latest_checkpoint()
    assert model_path.endswith("ckpt-0000000002-epoch2-end/model.safetensors")
    assert training_path.endswith("ckpt-0000000002-epoch2-end/training_state.safetensors")
    model_state, training_state = checkpointer.restore_checkpoint()
    assert torch.equal(model_state["w"], torch.full((3,), 2.0))
    assert training_state == {"counter": 20, "epoch": 2}
    assert torch.equal(checkpointer.best_model_state()["w"], torch.full((3,), 1.0))
    assert epochs_kept(checkpointer) == [1, 2]  # num_serialized_models_to_keep=2


def test_a_context_manager_trainer_stays_entered_while_the_state_is_written(run_dir):
    events = []

    class SwappingTrainer:  # AllenNLP trainers swap in averaged weights inside the context
        weights = torch.zeros(2)

        @contextlib.contextmanager
        def get_checkpoint_state(self):
            self.weights.fill_(5.0)
            events.append("enter")
            try:
                yield {"w": self.weights}, {"step": 1}
            finally:
                self.weights.fill_(0.0)
                events.append("exit")

    checkpointer = cairn.Checkpointer(run_dir)
    checkpointer.save_checkpoint(0, SwappingTrainer())
    assert events == ["enter", "exit"]
    assert torch.equal(checkpointer.restore_checkpoint()[0]["w"], torch.full((2,), 5.0))


def test_maybe_save_records_batches_and_asks_for_state_only_when_saving(run_dir):
    checkpointer = cairn.Checkpointer(run_dir, model_save_interval=3600)
    trainer = DictTrainer()
    assert not checkpointer.maybe_save_checkpoint(trainer, 0, 10)
    assert trainer.calls == 0
    every_time = cairn.Checkpointer(run_dir, model_save_interval=0)
    assert every_time.maybe_save_checkpoint(trainer, 2, 17)
    assert trainer.calls == 1
    _, training_state = every_time.restore_checkpoint()
    assert (training_state["epoch"], training_state["batches_this_epoch"]) == (2, 17)


def test_allennlp_intra_epoch_string_epochs(run_dir):
    checkpointer = cairn.Checkpointer(run_dir)
    checkpointer.save_checkpoint("3.2021-04-22-10-00-00", DictTrainer())
    _, training_state = checkpointer.restore_checkpoint()
    assert (training_state["epoch"], training_state["batches_this_epoch"]) == (3, 0)
    checkpointer.save_checkpoint("4", DictTrainer())
    assert checkpointer.restore_checkpoint()[1]["epoch"] == 4
    with pytest.raises(cairn.InvalidArgumentError, match="neither a number"):
        checkpointer.save_checkpoint("three", DictTrainer())


def test_from_params_and_registered_subclasses(run_dir):
    default = cairn.Checkpointer.from_params({"num_serialized_models_to_keep": 1}, serialization_dir=run_dir)
    assert type(default) is cairn.Checkpointer
    with pytest.raises(cairn.InvalidArgumentError, match="unknown key\\(s\\) keep_last, other"):
        cairn.Checkpointer.from_params({"keep_last": 1, "other": 2}, serialization_dir=run_dir)
    with pytest.raises(cairn.InvalidArgumentError, match='unknown type "nope"'):
        cairn.Checkpointer.from_params({"type": "nope"}, serialization_dir=run_dir)

    @cairn.Checkpointer.register("every-other")
    class EveryOther(cairn.Checkpointer):
        def __init__(self, serialization_dir, stride: int = 2, **kwargs):
            super().__init__(serialization_dir, **kwargs)
            self.stride = stride

        def save_checkpoint(self, epoch, trainer, is_best_so_far=False, metrics=None):
            if epoch % self.stride == 0:
                super().save_checkpoint(epoch, trainer, is_best_so_far, metrics)

    mine = cairn.Checkpointer.from_params(
        {"type": "every-other", "stride": 3, "num_serialized_models_to_keep": None}, serialization_dir=run_dir)
    assert isinstance(mine, EveryOther) and mine.stride == 3
    for epoch in range(7):
        mine.save_checkpoint(epoch, DictTrainer())
    assert epochs_kept(mine) == [0, 3, 6]


def test_retention_policies_from_python(run_dir):
    checkpointer = cairn.Checkpointer(run_dir, num_serialized_models_to_keep=2, keep_best_k=3,
                                      metric="val_loss", mode="min", keep_every_n_epochs=5)
    losses = [0.92, 0.81, 0.74, 0.69, 0.66, 0.61, 0.63, 0.58, 0.55, 0.57,
              0.52, 0.54, 0.49, 0.51, 0.50, 0.53, 0.55, 0.56, 0.58, 0.61]
    for epoch, loss in enumerate(losses):
        checkpointer.save_checkpoint(epoch, DictTrainer(), metrics={"val_loss": loss})
    assert epochs_kept(checkpointer) == [0, 5, 10, 12, 13, 14, 15, 18, 19]
    assert checkpointer.list_checkpoints()[3].metrics == {"val_loss": 0.49}
    reasons = {epoch_of_name(d.name): d.reason for d in checkpointer.explain_retention()}
    assert reasons[12] == "kept: best 1 of 3 by val_loss (min) = 0.49"
    assert reasons[15] == "kept: end of epoch 15, a multiple of 5"
    assert reasons[19] == "kept: one of the last 2"
    # Other options, explained before anything is deleted.
    narrower = cairn.Checkpointer(run_dir, num_serialized_models_to_keep=2)
    going = [epoch_of_name(d.name) for d in narrower.explain_retention() if not d.keep]
    assert going == [0, 5, 10, 12, 13, 14, 15]
    assert epochs_kept(checkpointer) == [0, 5, 10, 12, 13, 14, 15, 18, 19]


def test_retention_log_lines_reach_python_logging(run_dir, caplog):
    checkpointer = cairn.Checkpointer(run_dir, num_serialized_models_to_keep=1)
    with caplog.at_level(logging.INFO, logger="cairn"):
        checkpointer.save_checkpoint(0, DictTrainer())
        checkpointer.save_checkpoint(1, DictTrainer())
    messages = [record.getMessage() for record in caplog.records if record.name == "cairn"]
    assert any(m.startswith("saved ") for m in messages)
    assert "ckpt-0000000000-epoch0-end deleted: outside the last 1, no policy keeps it" in messages


def test_errors_map_to_python_classes(run_dir):
    with pytest.raises(cairn.InvalidArgumentError, match="keep_best_k needs the name of the metric"):
        cairn.Checkpointer(run_dir, keep_best_k=2)
    with pytest.raises(cairn.InvalidArgumentError, match='mode must be "min" or "max"'):
        cairn.Checkpointer(run_dir, mode="best")
    first = cairn.Checkpointer(run_dir)
    first.save_checkpoint(0, DictTrainer())
    second = cairn.Checkpointer(run_dir)
    with pytest.raises(cairn.LockedError, match="locked by pid"):
        second.save_checkpoint(1, DictTrainer())
    with pytest.raises(cairn.InvalidArgumentError, match="must give a \\(model_state, training_state\\) pair"):
        first.save_checkpoint(1, type("Bad", (), {"get_checkpoint_state": lambda self: 3})())
    with pytest.raises(ZeroDivisionError):  # the trainer's own error passes through untouched
        first.save_checkpoint(1, type("Raising", (), {"get_checkpoint_state": lambda self: 1 / 0})())
    assert epochs_kept(first) == [0]  # failed saves left nothing behind


def test_a_damaged_latest_checkpoint_is_skipped_for_the_newest_valid_one(run_dir, caplog):
    checkpointer = cairn.Checkpointer(run_dir, num_serialized_models_to_keep=None)
    for epoch in range(3):
        checkpointer.save_checkpoint(epoch, DictTrainer({"w": torch.full((4,), float(epoch))}))
    newest = checkpointer.list_checkpoints()[-1].model_path
    with open(newest, "r+b") as f:
        f.seek(-3, 2)
        byte = f.read(1)
        f.seek(-3, 2)
        f.write(bytes([byte[0] ^ 0x40]))
    with caplog.at_level(logging.WARNING, logger="cairn"):
        model_state, training_state = checkpointer.restore_checkpoint()
    assert training_state["epoch"] == 1
    assert any("skipping checkpoint ckpt-0000000002-epoch2-end" in r.getMessage() for r in caplog.records)


def test_help_is_useful():
    doc = cairn.Checkpointer.__doc__
    assert "num_serialized_models_to_keep" in doc and "keep_best_k" in doc
    assert "tensor_type" in cairn.Checkpointer.restore_checkpoint.__doc__


def test_async_saves_hold_the_state_of_the_call_and_wait_makes_them_durable(run_dir):
    checkpointer = cairn.Checkpointer(run_dir, async_save=True)
    weights = torch.zeros(1000)
    for epoch in range(3):
        weights.fill_(float(epoch))
        checkpointer.save_checkpoint(epoch, DictTrainer({"w": weights}, {"counter": epoch}))
        weights.fill_(-1.0)  # training goes on while the save is written
    checkpointer.wait()
    model_state, training_state = cairn.Checkpointer(run_dir).restore_checkpoint()
    assert torch.equal(model_state["w"], torch.full((1000,), 2.0))
    assert training_state == {"counter": 2, "epoch": 2}
    assert epochs_kept(checkpointer) == [1, 2]
    checkpointer.save_checkpoint(3, DictTrainer({"w": weights}, {}))
    del checkpointer  # waits for the save in flight (and does not deadlock on the GIL)
    assert epochs_kept(cairn.Checkpointer(run_dir)) == [2, 3]
