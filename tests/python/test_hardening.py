"""Regression tests for issue 15 (hardening) in the Python module: each is named after the fault
it fixes, and failed before the fix."""
import logging
import struct
import subprocess
import sys
import textwrap

import pytest
import torch

import cairn
from conftest import DictTrainer


# Item 4: a script that ended with an asynchronous save in flight aborted ("FATAL: exception not
# rethrown", exit 134) when the save logged at exit; with a warning before the publish (a NaN
# metric, or none for keep_best_k) the checkpoint was lost although save_checkpoint returned.
EXITS_WITH_A_SAVE_IN_FLIGHT = textwrap.dedent("""
    import sys, torch, cairn
    checkpointer = cairn.Checkpointer(sys.argv[1], async_save=True, keep_best_k=2,
                                      metric="val_loss")
    class Trainer:
        def get_checkpoint_state(self):
            return {"w": torch.full((4 * 1024 * 1024,), 7.0)}, {}
    metrics = {"val_loss": float("nan")} if sys.argv[2] == "nan" else {}
    checkpointer.save_checkpoint(0, Trainer(), is_best_so_far=True, metrics=metrics)
""")


@pytest.mark.parametrize("metric", ["nan", "missing"])
def test_exit_with_an_async_save_in_flight_finishes_the_save(tmp_path, metric):
    for attempt in range(2):  # a race: the save is still in flight at exit in either
        run_dir = tmp_path / f"run{attempt}"
        child = subprocess.run([sys.executable, "-c", EXITS_WITH_A_SAVE_IN_FLIGHT, str(run_dir),
                                metric], capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr
        assert "FATAL" not in child.stderr
        checkpointer = cairn.Checkpointer(run_dir)
        model_state, training_state = checkpointer.restore_checkpoint()
        assert training_state == {"epoch": 0}
        assert torch.equal(model_state["w"], torch.full((4 * 1024 * 1024,), 7.0))
        assert torch.equal(checkpointer.best_model_state()["w"], model_state["w"])


def safetensors_bytes(header: bytes, data: bytes) -> bytes:
    header += b" " * ((8 - len(header) % 8) % 8)
    return struct.pack("<Q", len(header)) + header + data


# Item 11: invalid UTF-8 in a header raised UnicodeDecodeError, not CorruptDataError.
@pytest.mark.parametrize("header", [
    b'{"w\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
    b'{"__metadata__":{"run":"\xc3("},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
], ids=["tensor-name", "metadata"])
def test_invalid_utf8_in_a_header_is_corrupt_data_naming_the_file(tmp_path, header):
    path = tmp_path / "f.safetensors"
    path.write_bytes(safetensors_bytes(header, b"\0" * 4))
    with pytest.raises(cairn.CorruptDataError) as error:
        cairn.load_file(path)
    assert str(path) in str(error.value)


# Item 11: the restore warning quoting such a header was dropped, so the fallback went unreported.
def test_restore_reports_a_checkpoint_skipped_for_invalid_utf8(run_dir, caplog):
    checkpointer = cairn.Checkpointer(run_dir, num_serialized_models_to_keep=None)
    for epoch in range(2):
        checkpointer.save_checkpoint(epoch, DictTrainer({"w": torch.full((4,), float(epoch))}))
    newest = checkpointer.list_checkpoints()[-1]["model_path"]
    with open(newest, "rb") as f:
        content = f.read()
    length = struct.unpack("<Q", content[:8])[0]
    header = content[8:8 + length].replace(b'"w"', b'"\xff"', 1)
    with open(newest, "wb") as f:
        f.write(content[:8] + header + content[8 + length:])
    with caplog.at_level(logging.WARNING, logger="cairn"):
        _, training_state = checkpointer.restore_checkpoint()
    assert training_state["epoch"] == 0
    skipped = [r.getMessage() for r in caplog.records if "skipping checkpoint" in r.getMessage()]
    assert skipped and "epoch1" in skipped[0]
