"""cairn._pair: a ready (model_state, training_state) pair, as the framework integrations have
it, saved as one checkpoint and given back with the checkpoint it came from."""
import pytest
import torch

import cairn
from cairn._pair import restore_pair, save_pair


def test_a_pair_comes_back_as_it_went_in_without_cairns_own_keys(tmp_path):
    checkpointer = cairn.Checkpointer(tmp_path)
    assert restore_pair(checkpointer) is None  # nothing saved yet
    model = {"layer.weight": torch.arange(6.0).reshape(2, 3)}
    training = {"framework": {"global_step": 7, "state": {0: {"step": torch.tensor(7.0)}},
                              "betas": (0.9, 0.999), "note": None}}
    save_pair(checkpointer, model, training, epoch=1, batches_this_epoch=3, metrics={"loss": 2.5})
    restored_model, restored_training, info = restore_pair(cairn.Checkpointer(tmp_path), copy=True)
    assert torch.equal(restored_model["layer.weight"], model["layer.weight"])
    assert set(restored_training) == {"framework"}  # "epoch" and "batches_this_epoch" left out
    framework = restored_training["framework"]
    assert framework["global_step"] == 7 and framework["note"] is None
    assert framework["betas"] == [0.9, 0.999]  # tuples come back as lists
    assert torch.equal(framework["state"][0]["step"], torch.tensor(7.0))  # int keys stay int
    assert (info.epoch, info.batches_this_epoch, info.metrics) == (1, 3, {"loss": 2.5})


def test_a_value_that_cannot_be_stored_is_named_and_nothing_is_written(tmp_path):
    checkpointer = cairn.Checkpointer(tmp_path)
    with pytest.raises(cairn.InvalidArgumentError, match=r'"training_state.framework.hparams.optimizer_class"'):
        save_pair(checkpointer, {}, {"framework": {"hparams": {"optimizer_class": torch.optim.SGD}}},
                  epoch=0)
    assert checkpointer.list_checkpoints() == []
