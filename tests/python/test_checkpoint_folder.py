"""cairn.CheckpointFolder: one committed checkpoint folder opened on its own, on real saves:
its facts are list_checkpoints', load gives what restore_checkpoint gives, and damage is
reported by verify and raised by load, naming the file."""
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import cairn
from cairn import tools
from conftest import DictTrainer


def saved(run_dir):
    checkpointer = cairn.Checkpointer(run_dir, num_serialized_models_to_keep=None)
    for epoch in range(3):
        model = {"w": torch.full((8,), float(epoch)), "b": torch.arange(4)}
        checkpointer.save_checkpoint(epoch, DictTrainer(model, {"step": epoch, "note": "n"}),
                                     is_best_so_far=(epoch == 1), metrics={"loss": 1.0 / (epoch + 1)})
    infos = checkpointer.list_checkpoints()
    restored = checkpointer.restore_checkpoint()
    del checkpointer
    return infos, restored


def flip_byte(path):
    with open(path, "r+b") as f:
        f.seek(-3, 2)
        byte = f.read(1)
        f.seek(-3, 2)
        f.write(bytes([byte[0] ^ 0x40]))


def test_is_exported_from_the_package():
    assert cairn.CheckpointFolder is tools.CheckpointFolder
    assert "CheckpointFolder" in cairn.__all__ and "CheckpointFile" in cairn.__all__


def test_facts_equal_list_checkpoints(run_dir):
    infos, _ = saved(run_dir)
    for info in infos:
        folder = cairn.CheckpointFolder(info.path)
        assert (folder.name, folder.seq, folder.epoch, folder.batches_this_epoch) == \
            (info.name, info.seq, info.epoch, info.batches_this_epoch)
        assert folder.save_time == info.save_time and folder.metrics == info.metrics
        assert folder.size_bytes == info.size_bytes and folder.shard_files == 0
        assert not folder.is_best_version
        assert [(f.path, f.role) for f in folder.files] == [
            (info.model_path, "model"), (info.training_state_path, "training_state")]
        assert [f.size for f in folder.files] == [os.path.getsize(f.path) for f in folder.files]
        assert folder.files[0].name == "model.safetensors"


def test_load_equals_restore_in_one_verified_pass(run_dir):
    infos, (model, training) = saved(run_dir)
    folder = cairn.CheckpointFolder(Path(infos[-1].path))
    loaded_model, loaded_training = folder.load()
    assert loaded_model.keys() == model.keys()
    for name in model:
        assert torch.equal(loaded_model[name], model[name])
    assert loaded_training == training
    as_numpy, _ = folder.load(tensor_type="numpy", copy=True)
    assert isinstance(as_numpy["w"], np.ndarray) and as_numpy["w"].flags.writeable
    calls = []
    report = folder.verify(progress=lambda done, total: calls.append((done, total)))
    assert report.ok and report.files == 2 and report.bytes == folder.size_bytes
    assert calls[-1] == (folder.size_bytes, folder.size_bytes)


def test_a_best_version_holds_the_weights_alone(run_dir):
    saved(run_dir)
    best = cairn.CheckpointFolder(run_dir / "best")
    assert best.is_best_version and best.epoch == 1
    assert [f.role for f in best.files] == ["model"]
    model, training = best.load()
    assert training is None and torch.equal(model["w"], torch.full((8,), 1.0))
    assert best.verify().ok


def test_a_flipped_byte_is_reported_by_verify_and_raised_by_load(run_dir):
    infos, _ = saved(run_dir)
    folder = cairn.CheckpointFolder(infos[-1].path)
    flip_byte(infos[-1].model_path)
    report = folder.verify()
    assert not report.ok
    assert report.problems[0].file == infos[-1].model_path and report.problems[0].tensor
    with pytest.raises(cairn.CorruptDataError, match=infos[-1].model_path):
        folder.load()


def test_a_missing_manifest_or_folder_and_a_file_are_refused(run_dir):
    infos, _ = saved(run_dir)
    manifest = os.path.join(infos[-1].path, "MANIFEST.json")
    os.remove(manifest)
    with pytest.raises(cairn.CorruptDataError, match="MANIFEST.json: missing"):
        cairn.CheckpointFolder(infos[-1].path)
    with pytest.raises(cairn.InvalidArgumentError, match="not a checkpoint folder"):
        cairn.CheckpointFolder(infos[0].model_path)
    shutil.rmtree(infos[0].path)
    with pytest.raises(cairn.IoError, match=infos[0].name):
        cairn.CheckpointFolder(infos[0].path)
    with pytest.raises(cairn.InvalidArgumentError, match="progress must be callable"):
        cairn.CheckpointFolder(infos[1].path).verify(progress=3)
