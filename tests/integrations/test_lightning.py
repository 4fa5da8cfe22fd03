"""cairn inside PyTorch Lightning: CairnCheckpointIO and CairnModelCheckpoint (run with the venv
that has lightning; nothing here is skipped).

The kill tests run examples/lightning_resume.py in subprocesses (harness.py's protocol); the
others train tiny modules in this process.
"""
import dataclasses
import importlib.util
import logging
import math
import os
import re
import shutil
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

import cairn
from cairn.lightning import CairnCheckpointIO, CairnModelCheckpoint

sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "lightning_resume.py"
BATCHES = 40  # the example's batches per epoch


def _example():
    spec = importlib.util.spec_from_file_location("lightning_resume", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _example()


def trainer(epochs, *callbacks, plugins=(), **options):
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, deterministic=True,
                      logger=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, callbacks=list(callbacks), plugins=list(plugins),
                      **options)


def step_of(info, batches=BATCHES):
    """The global step a checkpoint of the example was saved at (one optimizer step a batch)."""
    if info.batches_this_epoch is None:
        return (info.epoch + 1) * batches
    return info.epoch * batches + info.batches_this_epoch


# ---- killed at random instants, resumed, byte for byte ----

# A shorter run than the example's default: 3 epochs of 30 batches, a save every 7 steps.
RUN = ["--epochs", "3", "--batches", "30", "--every", "7"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """(final weights, seconds of training) of a run never killed. The writer does not change
    training, so both writers' killed runs must end with these bytes."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    run, seconds = harness.timed_run(SCRIPT, RUN + ["--dir", str(folder / "run"),
                                                    "--final", str(folder / "final.st")])
    assert run.resumed_step is None and "training from epoch 0, step 0" in run.output
    return (folder / "final.st").read_bytes(), seconds


@pytest.mark.parametrize("writer", ["callback", "io"])
def test_killed_runs_end_with_the_weights_of_an_uninterrupted_run(tmp_path, uninterrupted,
                                                                  writer):
    weights, seconds = uninterrupted
    run_dir = tmp_path / "run"
    args = RUN + ["--dir", str(run_dir), "--writer", writer]
    # Each kill within the first sixth of a whole run's training: together they do not finish.
    killed = harness.kill_at_random_instants(SCRIPT, args, seconds * 0.5, kills=4)
    assert killed.kills >= 2, str(killed)
    assert all("Traceback" not in run.output for run in killed.runs), str(killed)

    # What "last" resolves to: the cairn directory (callback) or last.ckpt (Lightning's).
    newest_dir = run_dir if writer == "callback" else run_dir / "last.ckpt"
    newest = harness.newest_checkpoint(newest_dir)
    final = harness.run(SCRIPT, args + ["--final", str(tmp_path / "final.st")])
    assert final.resumed_step == step_of(newest, 30), f"{newest}\n{final.output}\n{killed}"
    assert (tmp_path / "final.st").read_bytes() == weights, str(killed)
    assert harness.assert_only_safetensors_and_json(run_dir) > 0


def test_lightnings_own_writer_leaves_what_the_scan_refuses(tmp_path):
    model = example.Regression(batches=4)
    fit = trainer(1, pl.callbacks.ModelCheckpoint(dirpath=tmp_path))
    fit.fit(model)
    assert any(path.suffix == ".ckpt" for path in tmp_path.iterdir())
    with pytest.raises(AssertionError, match="zip archive"):
        harness.assert_only_safetensors_and_json(tmp_path)


# ---- corruption, fallback ----

def test_a_corrupted_newest_checkpoint_is_skipped_with_a_warning(tmp_path, caplog):
    keep_two = CairnModelCheckpoint(dirpath=tmp_path, num_serialized_models_to_keep=2)
    trainer(3, keep_two).fit(example.Regression(batches=8))
    older, newest = cairn.list_directory(tmp_path).checkpoints[-2:]
    harness.flip_a_byte(Path(newest.model_path))

    resumed = trainer(4, CairnModelCheckpoint(dirpath=tmp_path, num_serialized_models_to_keep=2))
    with caplog.at_level(logging.WARNING, logger="cairn"):
        resumed.fit(example.Regression(batches=8), ckpt_path="last")
    assert any(newest.name in record.getMessage() for record in caplog.records), caplog.text
    # The run went on from the older checkpoint: epoch 1's end, then epochs 2 and 3 again.
    assert (older.epoch, older.batches_this_epoch) == (1, None)
    assert resumed.global_step == 4 * 8
    assert [info.epoch for info in cairn.list_directory(tmp_path).checkpoints][-2:] == [2, 3]


def test_a_corrupted_last_ckpt_falls_back_to_the_newest_valid_folder_beside_it(tmp_path, caplog):
    every_epoch = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=-1)
    trainer(2, every_epoch, plugins=[CairnCheckpointIO()]).fit(example.Regression(batches=8))
    assert sorted(os.listdir(tmp_path)) == ["epoch=0-step=8.ckpt", "epoch=1-step=16.ckpt",
                                            "last.ckpt"]
    last = cairn.list_directory(tmp_path / "last.ckpt").checkpoints[-1]
    harness.flip_a_byte(Path(last.training_state_path))

    with caplog.at_level(logging.WARNING, logger="cairn"):
        loaded = CairnCheckpointIO().load_checkpoint(tmp_path / "last.ckpt")
    assert loaded["global_step"] == 16
    warning = " ".join(record.getMessage() for record in caplog.records)
    assert str(tmp_path / "last.ckpt") in warning and "epoch=1-step=16.ckpt" in warning



def test_a_damaged_named_checkpoint_is_refused_not_replaced_by_a_sibling(tmp_path):
    every_epoch = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=-1)
    trainer(2, every_epoch, plugins=[CairnCheckpointIO()]).fit(example.Regression(batches=8))
    named = tmp_path / "epoch=1-step=16.ckpt"  # what ckpt_path="best" resolves to, say
    harness.flip_a_byte(Path(cairn.list_directory(named).checkpoints[-1].model_path))
    with pytest.raises(cairn.CorruptDataError, match=re.escape(str(named))):
        CairnCheckpointIO().load_checkpoint(named)
    (tmp_path / "last-v1.ckpt").mkdir()  # a version of the last name: falls back, to last.ckpt
    assert CairnCheckpointIO().load_checkpoint(tmp_path / "last-v1.ckpt")["global_step"] == 16



def test_a_first_save_appears_whole_under_its_name_or_not_at_all(tmp_path, monkeypatch):
    """A kill during the first save to last.ckpt must not leave last.ckpt/ without a checkpoint:
    while it is written, the name does not exist, and what does holds no "last" (Lightning's
    search for last checkpoints takes any entry whose name contains it)."""
    import cairn.lightning as plugin
    target, seen = tmp_path / "last.ckpt", []

    def save_encoded_pair(checkpointer, *args, **kwargs):
        real_save(checkpointer, *args, **kwargs)  # committed: a kill now keeps it
        seen.append((target.exists(), os.listdir(tmp_path)))
    real_save = plugin.save_encoded_pair
    monkeypatch.setattr(plugin, "save_encoded_pair", save_encoded_pair)
    state = {"epoch": 0, "global_step": 1, "state_dict": {"w": torch.ones(2)}}
    plugin.CairnCheckpointIO().save_checkpoint(state, target)
    plugin.CairnCheckpointIO().save_checkpoint(state, target)  # the second goes into it
    (exists, entries), again = seen
    assert not exists and len(entries) == 1 and "last" not in entries[0], seen
    assert again == (True, ["last.ckpt"])
    assert os.listdir(tmp_path) == ["last.ckpt"]
    assert len(cairn.list_directory(target).checkpoints) == 1

    removed = []
    monkeypatch.setattr(shutil, "rmtree", lambda path: removed.append(path))
    plugin.CairnCheckpointIO().remove_checkpoint(target)
    assert len(removed) == 1 and "last" not in os.path.basename(removed[0]), removed


def test_an_empty_last_ckpt_resumes_from_the_newest_valid_folder_beside_it(tmp_path, caplog):
    every_epoch = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=-1)
    trainer(2, every_epoch, plugins=[CairnCheckpointIO()]).fit(example.Regression(batches=8))
    shutil.rmtree(tmp_path / "last.ckpt")
    (tmp_path / "last.ckpt").mkdir()  # what a kill during an older cairn's first save left
    again = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=-1)
    resumed = trainer(3, again, plugins=[CairnCheckpointIO()])
    with caplog.at_level(logging.WARNING, logger="cairn"):
        resumed.fit(example.Regression(batches=8), ckpt_path="last")
    assert "epoch=1-step=16.ckpt" in caplog.text and str(tmp_path / "last.ckpt") in caplog.text
    assert resumed.global_step == 24
    assert cairn.list_directory(tmp_path / "last.ckpt").checkpoints[-1].epoch == 2



def test_last_finds_a_checkpoint_published_but_not_yet_recorded(tmp_path, monkeypatch):
    """A kill between publishing a checkpoint and recording it in the ledger leaves it in
    checkpoints/, listed as "not yet recorded": "last" must still resolve to dirpath (a restore
    takes it), or the rerun would silently train from scratch. The listing of that instant is
    made from the real one, as no public API stops a save between the two steps."""
    import cairn.lightning as plugin
    trainer(1, CairnModelCheckpoint(dirpath=tmp_path)).fit(example.Regression(batches=8))
    real = cairn.list_directory(tmp_path)
    (only,) = real.checkpoints
    killed = dataclasses.replace(real, checkpoints=(), latest=None, others=real.others + (
        cairn.tools.ForeignEntry(path=only.path, kind="not yet recorded"),))
    monkeypatch.setattr(plugin.tools, "list_directory",
                        lambda folder: killed if Path(folder) == tmp_path else real)
    trained = []

    class Counts(pl.Callback):
        def on_train_batch_end(self, *args):
            trained.append(1)
    resumed = trainer(2, CairnModelCheckpoint(dirpath=tmp_path), Counts())
    resumed.fit(example.Regression(batches=8), ckpt_path="last")
    assert resumed.global_step == 16 and len(trained) == 8  # epoch 1 only: resumed


# ---- what is stored, and what is refused ----

def test_the_checkpoint_dict_comes_back_as_it_went_in(tmp_path):
    weight = torch.randn(2, 3)  # under two names, as GPT-2's tied lm_head
    checkpoint = {
        "epoch": 3, "global_step": 7, "pytorch-lightning_version": pl.__version__,
        "state_dict": OrderedDict(w=weight, b=torch.zeros(3, dtype=torch.bfloat16), tied=weight),
        "optimizer_states": [{"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2)}},
                              "param_groups": [{"betas": (0.9, 0.99), "params": [0]}]}],
        "callbacks": {"ModelCheckpoint{'monitor': None}": {
            "best_model_score": torch.tensor(0.5), "kth_value": torch.tensor(math.inf),
            "best_k_models": {"/a/b.ckpt": torch.tensor(1.0)}, "dirpath": "/x"}},
        "hyper_parameters": {"sizes": (1, (2, 3)), "lr": 1e-3, "n": None, "empty": []},
        "loops": {"fit_loop": {"epoch_progress": {"current": {"started": 4}},
                               "epoch_loop.batch_progress": {"current": {"processed": 5},
                                                             "is_last_batch": False}}},
    }
    io = CairnCheckpointIO()
    io.save_checkpoint(checkpoint, tmp_path / "a.ckpt")
    back = io.load_checkpoint(tmp_path / "a.ckpt", map_location="cpu", weights_only=True)

    def same(saved, loaded, path):
        if isinstance(saved, dict):
            assert isinstance(loaded, dict) and list(loaded) == list(saved), path
            for key in saved:
                same(saved[key], loaded[key], f"{path}.{key}")
        elif isinstance(saved, (list, tuple)):
            assert type(loaded) is type(saved) and len(loaded) == len(saved), path
            for index, (one, other) in enumerate(zip(saved, loaded)):
                same(one, other, f"{path}.{index}")
        elif isinstance(saved, torch.Tensor):
            assert isinstance(loaded, torch.Tensor) and loaded.dtype == saved.dtype, path
            assert loaded.shape == saved.shape and torch.equal(loaded, saved), path
        else:
            assert type(loaded) is type(saved) and loaded == saved, path
    same(checkpoint, back, "checkpoint")
    # cairn's labels: Lightning's epoch 3, 5 batches into it.
    (info,) = cairn.list_directory(tmp_path / "a.ckpt").checkpoints
    assert (info.epoch, info.batches_this_epoch) == (3, 5)
    # The tied weight is written once and comes back tied.
    assert sorted(cairn.load_file(info.model_path)) == ["b", "w"]
    assert back["state_dict"]["tied"].data_ptr() == back["state_dict"]["w"].data_ptr()
    moved = io.load_checkpoint(tmp_path / "a.ckpt", map_location={"cpu": "meta"})
    assert moved["state_dict"]["w"].is_meta and moved["callbacks"][
        "ModelCheckpoint{'monitor': None}"]["best_model_score"].is_meta
    with pytest.raises(cairn.InvalidArgumentError, match="map_location"):
        io.load_checkpoint(tmp_path / "a.ckpt", map_location=lambda storage, location: storage)
    with pytest.raises(cairn.InvalidArgumentError, match="storage_options"):
        io.save_checkpoint(checkpoint, tmp_path / "b.ckpt", storage_options={"x": 1})


class WithAnObject(example.Regression):
    def __init__(self, tokenizer=None, batches=4):
        super().__init__(batches=batches)
        self.save_hyperparameters()


def test_a_value_that_cannot_be_stored_is_refused_naming_its_key(tmp_path):
    fit = trainer(1, CairnModelCheckpoint(dirpath=tmp_path / "run"))
    with pytest.raises(cairn.InvalidArgumentError, match=r"hyper_parameters\.tokenizer"):
        fit.fit(WithAnObject(tokenizer=object()))
    assert not any((tmp_path / "run").rglob("*.safetensors"))  # nothing was written


def test_a_value_that_cannot_be_stored_is_refused_by_the_plugin_too(tmp_path):
    fit = trainer(1, plugins=[CairnCheckpointIO()], enable_checkpointing=False)
    fit.fit(WithAnObject(tokenizer=object()))
    with pytest.raises(cairn.InvalidArgumentError, match=r"hyper_parameters\.tokenizer"):
        fit.save_checkpoint(tmp_path / "by-hand.ckpt")
    assert not (tmp_path / "by-hand.ckpt").exists()


def test_remove_checkpoint_deletes_only_cairns_folders(tmp_path):
    io = CairnCheckpointIO()
    plain = tmp_path / "plain.ckpt"
    plain.mkdir()
    (plain / "notes.txt").write_text("mine")
    torch.save({"x": 1}, tmp_path / "torch.ckpt")
    for path in (plain, tmp_path / "torch.ckpt"):
        with pytest.raises(cairn.InvalidArgumentError, match="not a cairn folder"):
            io.remove_checkpoint(path)
    assert (plain / "notes.txt").read_text() == "mine" and (tmp_path / "torch.ckpt").exists()

    state = {"epoch": 0, "global_step": 1, "state_dict": {"w": torch.ones(2)}}
    io.save_checkpoint(state, tmp_path / "ours.ckpt")
    (tmp_path / "ours.ckpt" / "config.json").write_text("{}")
    with pytest.raises(cairn.InvalidArgumentError, match="config.json"):
        io.remove_checkpoint(tmp_path / "ours.ckpt")
    os.remove(tmp_path / "ours.ckpt" / "config.json")
    io.remove_checkpoint(tmp_path / "ours.ckpt")
    assert sorted(os.listdir(tmp_path)) == ["plain.ckpt", "torch.ckpt"]


def test_lightning_arguments_cairn_cannot_honour_are_refused(tmp_path):
    for refused in ({"filename": "{epoch}"}, {"save_weights_only": True},
                    {"save_last": "link"}, {"save_top_k": 0}, {"save_on_exception": True},
                    {"enable_version_counter": False}, {"every_n_steps": 3},
                    {"num_serialized_models_to_keep": 0}):
        with pytest.raises(cairn.InvalidArgumentError, match=next(iter(refused))):
            CairnModelCheckpoint(dirpath=tmp_path, **refused)
    with pytest.raises(cairn.InvalidArgumentError, match="dirpath"):
        CairnModelCheckpoint(dirpath=None)

    class OtherWriter(pl.plugins.io.TorchCheckpointIO):
        pass
    fit = trainer(1, CairnModelCheckpoint(dirpath=tmp_path), plugins=[OtherWriter()])
    with pytest.raises(cairn.InvalidArgumentError, match="needs CairnCheckpointIO.*OtherWriter"):
        fit.fit(example.Regression(batches=4))


# ---- CairnModelCheckpoint: cairn's retention ----

class Scripted(example.Regression):
    """Logs a val_loss of its script's choosing, one value per epoch."""
    SCRIPT = [0.5, 0.2, 0.4, 0.1, 0.3]

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self.SCRIPT[self.current_epoch])


def test_retention_keeps_the_best_k_by_the_monitor_and_the_newest(tmp_path):
    best_two = CairnModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2,
                                    num_serialized_models_to_keep=1)
    fit = trainer(5, best_two)
    fit.fit(Scripted(batches=4, epochs=5))
    assert type(fit.strategy.checkpoint_io) is CairnCheckpointIO  # installed by the callback
    kept = cairn.list_directory(tmp_path).checkpoints
    # val_loss 0.5, 0.2, 0.4, 0.1, 0.3: the best two are epochs 3 and 1, the newest is epoch 4.
    assert [(info.epoch, info.metrics["val_loss"]) for info in kept] == \
        [(1, pytest.approx(0.2)), (3, pytest.approx(0.1)), (4, pytest.approx(0.3))]
    reasons = {decision.name: decision.reason for decision in cairn.explain(tmp_path)}
    assert "best 1 of 2 by val_loss" in reasons[kept[1].name]
    assert "last 1" in reasons[kept[2].name]
    assert [info.is_best for info in kept] == [False, True, False]
    assert best_two.best_model_score.item() == pytest.approx(0.1)
    weights = fit.strategy.checkpoint_io.load_checkpoint(best_two.best_model_path)["state_dict"]
    saved = cairn.load_file(kept[1].model_path)
    assert all(torch.equal(weights[name], saved[name]) for name in saved)


def test_save_last_link_works_with_the_plugin(tmp_path):
    linked = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last="link",
                                          every_n_train_steps=5)
    trainer(1, linked, plugins=[CairnCheckpointIO()]).fit(example.Regression(batches=10))
    assert os.readlink(tmp_path / "last.ckpt") == "epoch=0-step=10.ckpt"
    again = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last="link",
                                         every_n_train_steps=5)
    resumed = trainer(2, again, plugins=[CairnCheckpointIO()])
    resumed.fit(example.Regression(batches=10), ckpt_path="last")
    assert resumed.global_step == 20
    assert os.readlink(tmp_path / "last.ckpt") == "epoch=1-step=20.ckpt"
    assert sorted(os.listdir(tmp_path)) == ["epoch=1-step=20.ckpt", "last.ckpt"]


def test_import_cairn_does_not_import_lightning():
    code = "import sys, cairn; assert 'lightning' not in sys.modules, 'lightning imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_plain_dataloader_is_not_resumed_mid_epoch_by_lightning(tmp_path):
    """Why the example has ResumableLoader (docs/integrations.md): Lightning restores
    its loop counters (4 of 10 batches done) but iterates a plain DataLoader afresh and stops
    after the 6 left, training on batches 0-5 again instead of 4-9."""
    seen = []

    class Records(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(1, 1)

        def training_step(self, batch, batch_idx):
            seen.append(int(batch[0][0, 0]))
            return self.net(batch[0]).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)

    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.arange(10.0).view(10, 1)), batch_size=1)
    every_4 = pl.callbacks.ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=4)
    trainer(1, every_4, plugins=[CairnCheckpointIO()], max_steps=4).fit(Records(), data)
    assert seen == [0, 1, 2, 3]
    seen.clear()
    trainer(1, plugins=[CairnCheckpointIO()], enable_checkpointing=False).fit(
        Records(), data, ckpt_path=tmp_path / "epoch=0-step=4.ckpt")
    assert seen == [0, 1, 2, 3, 4, 5]


# ---- what the plugin refuses to write into or delete ----

def test_saving_by_hand_into_a_callbacks_directory_or_its_checkpoints_is_refused(tmp_path):
    best_two = CairnModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2)
    fit = trainer(5, best_two)
    fit.fit(Scripted(batches=4, epochs=5))
    kept = [info.name for info in cairn.list_directory(tmp_path).checkpoints]
    assert len(kept) == 3
    for target, why in ((tmp_path, "keep-1 save would delete"),
                        (best_two.last_model_path, "committed cairn checkpoint"),
                        (best_two.best_model_path, "committed cairn checkpoint"),
                        (tmp_path / "best-versions" / "new.ckpt", "inside the cairn directory"),
                        (tmp_path / "checkpoints" / "new.ckpt", "inside the cairn directory"),
                        (tmp_path / "new.ckpt", "inside the cairn directory")):
        with pytest.raises(cairn.InvalidArgumentError, match=why):
            fit.save_checkpoint(target)
    assert [info.name for info in cairn.list_directory(tmp_path).checkpoints] == kept
    assert not (tmp_path / "new.ckpt").exists()
    assert harness.assert_only_safetensors_and_json(tmp_path) > 0


def test_remove_checkpoint_refuses_a_folder_holding_anything_cairn_did_not_write(tmp_path):
    io = CairnCheckpointIO()
    ours = tmp_path / "ours.ckpt"
    io.save_checkpoint({"epoch": 0, "global_step": 1, "state_dict": {"w": torch.ones(2)}}, ours)
    committed = Path(cairn.list_directory(ours).checkpoints[0].path)
    staged = ours / "staging" / f"{committed.name}.4242.0"  # a crashed writer's leftover
    staged.mkdir()
    (staged / "model.safetensors").write_bytes(b"partial")
    foreign = [committed / "notes.txt", ours / "staging" / "myfolder",
               ours / "staging" / f"{committed.name}.4242.1" / "notes.txt",
               ours / "checkpoints" / "mine", ours / "retention-segments" / "mine.json",
               ours / "best-versions"]
    for path in foreign:
        if path.suffix:
            path.parent.mkdir(exist_ok=True)
            path.write_text("mine")
        else:
            path.mkdir()
        with pytest.raises(cairn.InvalidArgumentError, match=f"did not write: {path}$"):
            io.remove_checkpoint(ours)
        assert path.exists()
        path.unlink() if path.suffix else path.rmdir()
    io.remove_checkpoint(ours)  # cairn's names only, the leftover among them
    assert os.listdir(tmp_path) == []


def test_a_lightning_without_the_private_apis_used_is_refused_on_import():
    code = ("from lightning.pytorch.callbacks import ModelCheckpoint\n"
            "del ModelCheckpoint._find_last_checkpoints\n"
            "import cairn.lightning\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode != 0
    assert "ImportError: cairn.lightning needs ModelCheckpoint._find_last_checkpoints" in \
        run.stderr and "2.6.6" in run.stderr, run.stderr


def test_a_cairn_folder_not_written_by_cairn_lightning_is_refused_naming_it(tmp_path):
    from cairn._pair import save_pair
    save_pair(cairn.Checkpointer(str(tmp_path / "other.ckpt")), {"w": torch.ones(2)},
              {"step": 1}, epoch=0)
    (info,) = cairn.list_directory(tmp_path / "other.ckpt").checkpoints
    for path in (tmp_path / "other.ckpt", Path(info.path)):
        with pytest.raises(cairn.InvalidArgumentError,
                           match=f"{re.escape(info.path)}: not written by cairn.lightning"):
            CairnCheckpointIO().load_checkpoint(path)


def test_a_monitored_key_never_logged_raises_as_lightnings_model_checkpoint_does(tmp_path):
    from lightning.pytorch.utilities.exceptions import MisconfigurationException
    typo = CairnModelCheckpoint(dirpath=tmp_path / "run", monitor="val_los")
    with pytest.raises(MisconfigurationException, match=r"monitor='val_los'\)` could not find "
                       r"the monitored key in the returned metrics: \['val_loss', 'epoch', "
                       r"'step'\]"):
        trainer(1, typo).fit(Scripted(batches=4))
    assert not any(tmp_path.rglob("*.safetensors"))  # nothing was saved
