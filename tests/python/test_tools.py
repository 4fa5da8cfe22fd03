"""The directory tools from Python (cairn.verify, list_directory, explain, prune) on real
directories made by real saves, damaged the way disks and people damage them."""
import dataclasses
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import cairn
from conftest import DictTrainer


def saved_dir(run_dir, epochs=4, big=None):
    """`epochs` end-of-epoch saves, all kept; the writer is gone afterwards (no lock held)."""
    checkpointer = cairn.Checkpointer(run_dir, num_serialized_models_to_keep=None)
    for epoch in range(epochs):
        model = {"w": np.full(8, epoch, dtype=np.float32)}
        if big is not None:
            model["big"] = big
        checkpointer.save_checkpoint(epoch, DictTrainer(model, {"step": epoch}))
    infos = checkpointer.list_checkpoints()
    del checkpointer  # lets go of the directory's lock
    return infos


def folders(run_dir):
    return sorted(os.listdir(Path(run_dir) / "checkpoints"))


def flip_byte(path, from_end=3):
    with open(path, "r+b") as f:
        f.seek(-from_end, 2)
        byte = f.read(1)
        f.seek(-from_end, 2)
        f.write(bytes([byte[0] ^ 0x40]))


def test_verify_passes_a_good_directory_and_counts_what_it_read(run_dir):
    infos = saved_dir(run_dir)
    calls = []
    report = cairn.verify(run_dir, progress=lambda done, total: calls.append((done, total)))
    assert isinstance(report, cairn.VerifyReport)
    assert report.ok and report.problems == ()
    assert report.files >= 2 * len(infos)  # model and training state of each, best/ besides
    assert report.tensors >= len(infos) and report.bytes > 0
    assert calls and calls[-1][0] == report.bytes
    assert all(done <= total for done, total in calls)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.files = 0  # type: ignore[misc]


def test_verify_names_the_file_with_a_flipped_bit(run_dir):
    infos = saved_dir(run_dir)
    damaged = infos[1].model_path
    flip_byte(damaged)
    report = cairn.verify(run_dir)
    assert not report.ok
    assert {Path(problem.file) for problem in report.problems} == {Path(damaged)}
    assert any(problem.tensor == "w" for problem in report.problems), report.problems
    alone = cairn.verify(damaged)  # one file alone: its tensor checksums find it
    assert not alone.ok and Path(alone.problems[0].file) == Path(damaged)
    assert cairn.verify(infos[0].path).ok  # the other checkpoints are fine


def test_verify_names_a_truncated_file(run_dir):
    infos = saved_dir(run_dir)
    cut = infos[-1].training_state_path
    os.truncate(cut, os.path.getsize(cut) // 2)
    report = cairn.verify(run_dir)
    assert not report.ok
    assert Path(cut) in {Path(problem.file) for problem in report.problems}
    assert any("manifest says" in problem.what for problem in report.problems), report.problems


def test_verify_of_a_missing_path_raises_io_error_naming_it(tmp_path):
    missing = tmp_path / "nothing-here"
    with pytest.raises(cairn.IoError, match="nothing-here"):
        cairn.verify(missing)


def test_a_progress_callback_that_raises_ends_the_verify(run_dir):
    saved_dir(run_dir, epochs=1)

    class Stop(Exception):
        pass

    def progress(done, total):
        raise Stop(done)

    with pytest.raises(Stop):
        cairn.verify(run_dir, progress=progress)
    with pytest.raises(cairn.InvalidArgumentError, match="progress must be callable"):
        cairn.verify(run_dir, progress=3)


def test_verify_releases_the_gil_between_progress_calls(run_dir):
    # With a huge switch interval another thread runs only when the verifying thread gives the
    # GIL up itself: between two progress calls if verify released it, never if it did not.
    saved_dir(run_dir, epochs=1, big=np.ones(8 * 1024 * 1024, dtype=np.float32))
    first_call, other_ran, seen = threading.Event(), threading.Event(), []

    def other_thread():
        first_call.wait(60)
        other_ran.set()

    def progress(done, total):
        seen.append(other_ran.is_set())
        first_call.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    try:
        report = cairn.verify(run_dir, progress=progress)
    finally:
        sys.setswitchinterval(old_interval)
        first_call.set()
        thread.join()
    assert report.ok
    assert len(seen) > 2 and seen[0] is False and seen[-1] is True, seen


def test_list_shows_checkpoints_a_damaged_one_with_its_reason_and_foreign_entries(run_dir):
    infos = saved_dir(run_dir)
    os.truncate(infos[2].model_path, 10)  # cut short: its header cannot be read
    (Path(run_dir) / "checkpoints" / "my-notes").mkdir()
    listing = cairn.list_directory(run_dir)
    assert isinstance(listing, cairn.DirectoryListing)
    assert [info.name for info in listing.checkpoints] == [infos[i].name for i in (0, 1, 3)]
    assert all(isinstance(info, cairn.CheckpointInfo) for info in listing.checkpoints)
    assert listing.checkpoints[-1].epoch == 3 and listing.checkpoints[-1].size_bytes > 0
    assert [d.info.name for d in listing.damaged] == [infos[2].name]
    assert listing.damaged[0].info.epoch == 2
    problem = listing.damaged[0].problem
    assert problem.startswith("model.safetensors: truncated"), problem
    assert listing.latest == infos[3].name
    assert [(Path(e.path).name, e.kind) for e in listing.others] == [("my-notes",
                                                                      "not written by cairn")]
    assert listing.writer_pid is None


def test_list_names_a_live_writer_and_a_missing_directory_is_an_io_error(run_dir, tmp_path):
    writer = cairn.Checkpointer(run_dir)
    writer.save_checkpoint(0, DictTrainer())
    assert cairn.list_directory(run_dir).writer_pid == os.getpid()
    del writer
    assert cairn.list_directory(run_dir).writer_pid is None
    with pytest.raises(cairn.IoError, match="absent-run"):
        cairn.list_directory(tmp_path / "absent-run")


def test_explain_decides_and_deletes_nothing(run_dir):
    infos = saved_dir(run_dir)
    before = folders(run_dir)
    decisions = cairn.explain(run_dir, num_serialized_models_to_keep=2)
    assert all(isinstance(d, cairn.RetentionDecision) for d in decisions)
    assert [d.name for d in decisions] == [info.name for info in infos]
    assert [d.keep for d in decisions] == [False, False, True, True]
    assert decisions[0].reason.startswith("deleted: outside the last 2"), decisions[0].reason
    assert folders(run_dir) == before
    # Without overrides the writer's own options (keep all) decide: nothing would go.
    assert all(d.keep for d in cairn.explain(run_dir))


def test_prune_dry_run_deletes_nothing_and_prune_deletes_what_explain_said(run_dir):
    saved_dir(run_dir)
    before = folders(run_dir)
    explained = cairn.explain(run_dir, num_serialized_models_to_keep=1, keep_every_n_epochs=2)
    assert cairn.prune(run_dir, dry_run=True, num_serialized_models_to_keep=1,
                       keep_every_n_epochs=2) == explained
    assert folders(run_dir) == before
    pruned = cairn.prune(run_dir, num_serialized_models_to_keep=1, keep_every_n_epochs=2)
    assert [(d.name, d.keep) for d in pruned] == [(d.name, d.keep) for d in explained]
    kept = sorted(d.name for d in explained if d.keep)
    assert kept and len(kept) < len(before)  # epochs 0 and 2 by the policy, 3 as the last
    assert folders(run_dir) == kept
    assert cairn.verify(run_dir).ok
    assert [info.name for info in cairn.list_directory(run_dir).checkpoints] == kept


def test_prune_under_a_live_writer_raises_locked_error_and_deletes_nothing(run_dir):
    writer = cairn.Checkpointer(run_dir, num_serialized_models_to_keep=None)
    for epoch in range(3):
        writer.save_checkpoint(epoch, DictTrainer())
    before = folders(run_dir)
    for dry_run in (True, False):
        with pytest.raises(cairn.LockedError, match=f"locked by pid {os.getpid()}") as raised:
            cairn.prune(run_dir, dry_run=dry_run, num_serialized_models_to_keep=1)
        assert str(run_dir) in str(raised.value)
    assert folders(run_dir) == before
    del writer
    assert len(cairn.prune(run_dir, num_serialized_models_to_keep=1)) == 3
    assert len(folders(run_dir)) == 1


def test_bad_retention_options_raise_invalid_argument_error(run_dir):
    saved_dir(run_dir, epochs=1)
    with pytest.raises(cairn.InvalidArgumentError, match='mode must be "min" or "max"') as bad:
        cairn.explain(run_dir, mode="best")
    assert str(bad.value).startswith(f"{run_dir}: ")
    with pytest.raises(cairn.InvalidArgumentError, match="keep_best_k needs the name") as bad:
        cairn.prune(run_dir, keep_best_k=2)  # no metric to rank by
    assert str(bad.value).startswith(f"{run_dir}: ")
    with pytest.raises(TypeError):
        cairn.prune(run_dir, keep_last=1)  # type: ignore[call-arg]
    assert len(folders(run_dir)) == 1
