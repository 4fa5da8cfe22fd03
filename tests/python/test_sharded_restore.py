"""Checkpointer.restore_shards from Python on a real sharded checkpoint: written by 3 ranks (C++
ranks on threads, `checkpoint_fixture sharded`; the Python package has no coordinator), read
back under another layout, box by box."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import cairn
from cairn import _core

EMBED = ("model_state", "embed.weight")          # (37, 8) F32, saved split along dim 0
FC = ("model_state", "fc.weight")                # (6, 10, 5) BF16, saved split along dim 1
BIG = ("model_state", "big")                     # (5, 3000001) U8, saved split along dim 1
MOMENT = ("training_state", "optimizer", "exp_avg", "embed.weight")  # (37, 8), along dim 0


def checkpoint_fixture():
    """$CAIRN_CHECKPOINT_FIXTURE (set by CTest), else the build's tests/checkpoint_fixture."""
    tool = os.environ.get("CAIRN_CHECKPOINT_FIXTURE") or str(
        Path(_core.__file__).resolve().parents[2] / "tests" / "checkpoint_fixture")
    assert os.access(tool, os.X_OK), f"no checkpoint_fixture at {tool}: set CAIRN_CHECKPOINT_FIXTURE"
    return tool


@pytest.fixture(scope="module")
def sharded_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("sharded") / "run"
    subprocess.run([checkpoint_fixture(), "sharded", str(run)], check=True, timeout=600)
    return run


@pytest.fixture(scope="module")
def whole(sharded_dir):
    """The newest checkpoint as one process restores it: every tensor whole."""
    model_state, training_state = cairn.Checkpointer(sharded_dir).restore_checkpoint()
    return {"model_state": model_state, "training_state": training_state}


def at(state, path):
    for key in path:
        state = state[key]
    return state


def cut(tensor, offsets, shape):
    return tensor[tuple(slice(o, o + n) for o, n in zip(offsets, shape))]


def same_bits(a, b):
    """Equal dtype, shape and bytes (the patterned floats hold NaNs, which never compare equal)."""
    bits = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.uint8: torch.uint8}
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.contiguous().view(bits[a.dtype]), b.contiguous().view(bits[b.dtype]))


def test_boxes_under_another_layout_equal_the_slices_of_the_whole_tensors(sharded_dir, whole):
    boxes = {
        "model_state/embed.weight": ((10, 2), (20, 5)),  # crosses the saved pieces' borders
        FC: ((1, 3, 0), (4, 6, 5)),
        "training_state/optimizer/exp_avg/embed.weight": ((0, 4), (37, 4)),
    }
    restored = cairn.Checkpointer(sharded_dir).restore_shards(boxes)
    assert isinstance(restored, cairn.RestoredShards)
    state = {"model_state": restored.model_state, "training_state": restored.training_state}
    for path, (offsets, shape) in [(EMBED, boxes["model_state/embed.weight"]), (FC, boxes[FC]),
                                   (MOMENT, ((0, 4), (37, 4)))]:
        box = at(state, path)
        assert tuple(box.shape) == shape, path
        assert same_bits(box, cut(at(whole, path), offsets, shape)), path
        assert restored.shards[path] == cairn.Shard(tuple(at(whole, path).shape), offsets)
    assert at(state, FC).dtype == torch.bfloat16
    # Not asked for: whole, at offsets 0; replicated values as saved.
    assert same_bits(at(state, BIG), at(whole, BIG))
    assert restored.shards[BIG] == cairn.Shard((5, 3_000_001), (0, 0))
    assert same_bits(restored.model_state["fc.bias"], whole["model_state"]["fc.bias"])
    assert restored.training_state["global_step"] == 1
    assert restored.info.epoch == 1 and restored.info.shard_files == 3


def test_two_new_ranks_split_along_another_dimension_tile_the_whole_tensor(sharded_dir, whole):
    # Saved by 3 ranks along dim 0; read back by 2 "ranks" along dim 1, as numpy arrays.
    checkpointer = cairn.Checkpointer(sharded_dir)
    parts = [checkpointer.restore_shards({EMBED: ((0, 4 * rank), (37, 4))}, tensor_type="numpy")
             for rank in range(2)]
    halves = [part.model_state["embed.weight"] for part in parts]
    assert all(isinstance(half, np.ndarray) and half.shape == (37, 4) for half in halves)
    assert np.array_equal(np.concatenate(halves, axis=1).view(np.int32),
                          whole["model_state"]["embed.weight"].numpy().view(np.int32))
    halves[0][0, 0] = 123.0  # the boxes own their memory: writable
    assert parts[1].shards[EMBED].offsets == (0, 4)


def test_a_box_outside_its_tensor_is_an_invalid_argument_error_naming_it(sharded_dir):
    checkpointer = cairn.Checkpointer(sharded_dir)
    with pytest.raises(cairn.InvalidArgumentError,
                       match="model_state/embed.weight lies outside its global shape"):
        checkpointer.restore_shards({EMBED: ((30, 0), (8, 8))})  # rows 30..37 of 37
    with pytest.raises(cairn.InvalidArgumentError, match="model_state/fc.weight"):
        checkpointer.restore_shards({FC: ((0, 0), (6, 10))})  # two dimensions of three


def test_an_unknown_name_is_an_invalid_argument_error_naming_it(sharded_dir):
    checkpointer = cairn.Checkpointer(sharded_dir)
    with pytest.raises(cairn.InvalidArgumentError, match="no sharded tensor model_state/nope in"):
        checkpointer.restore_shards({"model_state/nope": ((0,), (1,))})
    with pytest.raises(cairn.InvalidArgumentError, match="model_state/fc.bias"):
        checkpointer.restore_shards({"model_state/fc.bias": ((0,), (10,))})  # replicated
    with pytest.raises(cairn.InvalidArgumentError, match="model_state/embed.weight"):
        checkpointer.restore_shards({EMBED: (0, 8)})  # not sequences
    with pytest.raises(cairn.InvalidArgumentError, match="an \\(offsets, shape\\) pair"):
        checkpointer.restore_shards({EMBED: ((0, 0),)})
    with pytest.raises(cairn.InvalidArgumentError, match="offsets asked for model_state/embed"):
        checkpointer.restore_shards({EMBED: ((0.5, 0), (8, 8))})
    with pytest.raises(cairn.InvalidArgumentError, match="takes a dict"):
        checkpointer.restore_shards([(EMBED, ((0, 0), (8, 8)))])


def test_a_checkpoint_saved_by_python_restores_whole_and_none_gives_empty(run_dir):
    assert cairn.Checkpointer(run_dir).restore_shards({}) == cairn.RestoredShards({}, {}, {}, None)
    checkpointer = cairn.Checkpointer(run_dir)
    checkpointer.save({"weights": {"w": torch.arange(6.0)}}, epoch=0)
    restored = checkpointer.restore_shards({})
    assert torch.equal(restored.training_state["weights"]["w"], torch.arange(6.0))
    assert restored.shards == {} and restored.info.epoch == 0
    with pytest.raises(cairn.InvalidArgumentError, match="no sharded tensor training_state/weights/w"):
        checkpointer.restore_shards({("training_state", "weights", "w"): ((0,), (3,))})
