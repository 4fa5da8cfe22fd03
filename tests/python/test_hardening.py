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
    newest = checkpointer.list_checkpoints()[-1].model_path
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


# Item 13: these raised pybind11's RuntimeError, torch's NotImplementedError or RecursionError.
@pytest.fixture
def refused(run_dir):
    def save(state):
        with pytest.raises(cairn.InvalidArgumentError) as error:
            cairn.Checkpointer(run_dir).save_checkpoint(0, DictTrainer({}, state))
        return str(error.value)
    return save


def test_a_lone_surrogate_in_a_key_or_value_is_an_invalid_argument_naming_its_path(refused,
                                                                                  tmp_path):
    assert '"training_state.optimizer.state.3"' in refused({"optimizer": {"state": {3: "\udc80"}}})
    assert '"training_state.names"' in refused({"names": {"\ud800": 1}})
    with pytest.raises(cairn.InvalidArgumentError, match="metadata"):
        cairn.save_file({}, tmp_path / "f.safetensors", metadata={"k": "\udc80"})


def test_a_meta_tensor_is_an_invalid_argument_naming_its_path(refused):
    message = refused({"optimizer": {"state": {3: torch.empty(2, device="meta")}}})
    assert '"training_state.optimizer.state.3"' in message and "meta" in message


def test_deep_nesting_is_an_invalid_argument_naming_its_path(refused):
    state = leaf = {}
    for _ in range(5000):
        leaf["a"] = {}
        leaf = leaf["a"]
    message = refused(state)
    assert '"training_state.a.a.a' in message and "levels" in message


def test_a_list_containing_itself_is_an_invalid_argument_naming_its_path(refused):
    cycle = [1]
    cycle.append(cycle)
    assert '"training_state.x.1"' in refused({"x": cycle})


def test_the_same_list_twice_is_no_cycle(tmp_path):
    shared = [1, 2]
    cairn.save_file({"a": shared, "b": [shared, shared]}, tmp_path / "f.safetensors")
    assert cairn.load_file(tmp_path / "f.safetensors") == {"a": [1, 2], "b": [[1, 2], [1, 2]]}


def test_the_deepest_tree_the_writer_takes_round_trips(tmp_path):
    state = leaf = {}
    for _ in range(128):  # the deepest nesting docs/python.md promises
        leaf["a"] = {}
        leaf = leaf["a"]
    cairn.save_file(state, tmp_path / "f.safetensors")
    assert cairn.load_file(tmp_path / "f.safetensors") == state
