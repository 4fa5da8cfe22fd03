"""Issue 15, item 6: another Python thread writes a tensor while a synchronous save runs. The GIL
is released while cairn writes, so the thread below changes the array during the save (arrays
are saved from their own memory, not copied first). cairn must either refuse that save or publish
a checkpoint whose bytes match its checksums; before, every such save returned and each
checkpoint was later skipped as corrupt."""
import os
import threading

import numpy as np

import cairn
from conftest import DictTrainer


def test_a_tensor_written_during_a_save_never_publishes_a_bad_checksum(run_dir):
    weights = np.zeros(12 * 1024 * 1024, dtype=np.uint32)  # 48 MiB: several write buffers
    trainer = DictTrainer({"w": weights}, {})
    stop = threading.Event()

    def training():
        value = 0
        while not stop.is_set():
            value += 1
            weights[::4096] = value

    checkpointer = cairn.Checkpointer(run_dir, num_serialized_models_to_keep=None)
    thread = threading.Thread(target=training)
    thread.start()
    refused = 0
    try:
        for epoch in range(6):
            try:
                checkpointer.save_checkpoint(epoch, trainer)
            except cairn.InvalidArgumentError as error:
                assert "tensor 'w' changed while it was being saved" in str(error)
                refused += 1
    finally:
        stop.set()
        thread.join()
    checkpointer.save_checkpoint(6, trainer)
    assert refused > 0, "the other thread never ran during a save"

    folders = sorted(os.listdir(run_dir / "checkpoints"))
    assert len(folders) == 7 - refused
    for folder in folders:  # load_file checks every tensor's checksum
        loaded = cairn.load_file(run_dir / "checkpoints" / folder / "model.safetensors",
                                 tensor_type="numpy")
        assert loaded["w"].shape == weights.shape
    assert np.array_equal(cairn.load_file(run_dir / "checkpoints" / folders[-1] /
                                          "model.safetensors", tensor_type="numpy")["w"], weights)
