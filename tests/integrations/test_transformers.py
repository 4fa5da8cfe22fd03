"""cairn.transformers.CairnTrainer: a Hugging Face Trainer run (examples/transformers_resume.py)
killed with SIGKILL and run again ends with the same weights, byte for byte, as a run that
never stopped; it resumes at the global step of the newest valid checkpoint; only safetensors
and JSON are written; cairn's retention keeps the best by metric_for_best_model beside the
last save_total_limit checkpoints."""
import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402

import cairn  # noqa: E402
import cairn.transformers  # noqa: E402

EXAMPLE = Path(__file__).parents[2] / "examples" / "transformers_resume.py"
STEPS_PER_EPOCH = 20  # --sequences 160, batches of 8
ARGS = ["--epochs", "3", "--sequences", "160", "--save-steps", "5"]


def example_module():
    spec = importlib.util.spec_from_file_location("transformers_resume", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def global_step(info):
    """The global step the Trainer saved in a cairn checkpoint (read back from its files)."""
    return cairn.load_file(info.training_state_path)["trainer_state"]["global_step"]


def die_at_step(directory, step, args=ARGS):
    """Runs the example until it kills itself with SIGKILL when global step ``step`` ends."""
    done = subprocess.run([sys.executable, str(EXAMPLE), *args, "--dir", str(directory),
                           "--die-at-step", str(step)], capture_output=True, text=True,
                          timeout=harness.TIMEOUT)
    assert done.returncode == -9 and f"dying after step {step}" in done.stdout, done.stderr


def newest(directory):
    """The CheckpointInfo of the newest valid checkpoint in ``directory`` (None when none)."""
    listing = cairn.list_directory(str(directory))
    return next((info for info in listing.checkpoints if info.name == listing.latest), None)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its final weights and how long it trained."""
    folder = tmp_path_factory.mktemp("reference")
    run, seconds = harness.timed_run(EXAMPLE, [*ARGS, "--dir", str(folder / "run"),
                                               "--final", str(folder / "final.safetensors")])
    assert run.resumed_step is None, run.output
    assert "done after 60 steps" in run.output
    return (folder / "final.safetensors").read_bytes(), seconds


def test_killed_at_random_instants_ends_with_the_uninterrupted_bytes(tmp_path, reference):
    expected, seconds = reference
    directory = tmp_path / "run"
    killed = harness.kill_at_random_instants(EXAMPLE, [*ARGS, "--dir", str(directory)],
                                             training_seconds=seconds)
    assert killed.kills >= 2, killed
    on_disk = newest(directory) if directory.exists() else None
    step_on_disk = None if on_disk is None else global_step(on_disk)  # retention may delete it
    final = harness.run(EXAMPLE, [*ARGS, "--dir", str(directory),
                                  "--final", str(tmp_path / "final.safetensors")])
    assert final.resumed_step == step_on_disk, f"{killed}\n{final.output}"  # None: afresh
    if on_disk is not None:
        assert f"resumed from {on_disk.name} at step" in final.output
    assert (tmp_path / "final.safetensors").read_bytes() == expected, str(killed)
    harness.assert_only_safetensors_and_json(directory)


def test_a_run_killed_inside_an_epoch_continues_at_its_step(tmp_path, reference):
    directory = tmp_path / "run"
    die_at_step(directory, 28)
    latest = newest(directory)
    assert (latest.epoch, latest.batches_this_epoch, global_step(latest)) == (1, 5, 25)
    final = harness.run(EXAMPLE, [*ARGS, "--dir", str(directory),
                                  "--final", str(tmp_path / "final.safetensors")])
    assert final.resumed_step == 25 and "training from step 25 of 60" in final.output
    assert (tmp_path / "final.safetensors").read_bytes() == reference[0]


def test_gradient_accumulation_resumes_after_the_right_batches(tmp_path):
    accumulating = [*ARGS, "--gradient-accumulation-steps", "2"]  # 10 steps of 2 batches an epoch
    harness.run(EXAMPLE, [*accumulating, "--dir", str(tmp_path / "reference"),
                          "--final", str(tmp_path / "reference.safetensors")])
    directory = tmp_path / "run"
    die_at_step(directory, 18, accumulating)
    latest = newest(directory)
    assert (latest.epoch, latest.batches_this_epoch, global_step(latest)) == (1, 10, 15)
    final = harness.run(EXAMPLE, [*accumulating, "--dir", str(directory),
                                  "--final", str(tmp_path / "final.safetensors")])
    assert final.resumed_step == 15, final.output
    assert (tmp_path / "final.safetensors").read_bytes() == \
        (tmp_path / "reference.safetensors").read_bytes()


def test_a_corrupted_newest_checkpoint_is_skipped_with_a_warning(tmp_path, reference):
    directory = tmp_path / "run"
    die_at_step(directory, 23)
    kept = cairn.list_directory(str(directory)).checkpoints
    assert [global_step(info) for info in kept] == [15, 20]  # save_total_limit=2
    harness.flip_a_byte(Path(kept[-1].model_path))
    final = harness.run(EXAMPLE, [*ARGS, "--dir", str(directory),
                                  "--final", str(tmp_path / "final.safetensors")])
    assert final.resumed_step == 15, final.output
    assert f"resumed from {kept[0].name}" in final.output
    warning = next(line for line in final.output.splitlines() if kept[-1].name in line)
    assert "checksum" in warning or "corrupt" in warning.lower(), final.output
    assert (tmp_path / "final.safetensors").read_bytes() == reference[0]


def test_retention_keeps_the_best_by_metric_beside_the_last_two(tmp_path):
    directory = tmp_path / "run"
    # greater_is_better on eval_loss: the best is the first evaluation (step 5), the worst model.
    harness.run(EXAMPLE, [*ARGS, "--dir", str(directory), "--greater-is-better"])
    listing = cairn.list_directory(str(directory))
    assert [global_step(info) for info in listing.checkpoints] == [5, 55, 60]
    assert [info.name for info in listing.checkpoints] == [
        "ckpt-0000000000-epoch0-batch5", "ckpt-0000000010-epoch2-batch15",
        "ckpt-0000000011-epoch2-end"]
    highest = max(info.metrics["eval_loss"] for info in listing.checkpoints)
    assert listing.checkpoints[0].metrics["eval_loss"] == highest
    assert listing.checkpoints[0].is_best  # best/ is the Trainer's best model
    assert os.readlink(directory / "best").endswith(listing.checkpoints[0].name)
    reasons = {d.name: d.reason for d in cairn.explain(str(directory))}
    assert "best" in reasons[listing.checkpoints[0].name], reasons
    state = cairn.load_file(listing.checkpoints[-1].training_state_path)["trainer_state"]
    assert state["best_global_step"] == 5
    assert state["best_model_checkpoint"] == str(directory / "best")
    assert [entry["step"] for entry in state["log_history"] if "eval_loss" in entry] == \
        list(range(5, 61, 5))
    harness.assert_only_safetensors_and_json(directory)


def test_the_trainers_own_checkpoints_fail_the_scan(tmp_path):
    directory = tmp_path / "run"
    harness.run(EXAMPLE, ["--epochs", "1", "--sequences", "40", "--dir", str(directory),
                          "--default-writer"])
    assert {path.name for path in (directory / "checkpoint-5").iterdir()} >= \
        {"optimizer.pt", "rng_state.pth", "scheduler.pt", "training_args.bin"}
    with pytest.raises(AssertionError, match="zip archive|pickle"):
        harness.assert_only_safetensors_and_json(directory)


def test_the_scan_passes_a_killed_writers_partial_temporary_but_no_pickle(tmp_path):
    (tmp_path / "retention.json").write_text("{}")
    (tmp_path / ".retention.json.cairn-tmp.4242.3").write_bytes(b'{"queue": [')  # cut short
    assert harness.assert_only_safetensors_and_json(tmp_path) == 2
    (tmp_path / ".model.safetensors.cairn-tmp.4242.4").write_bytes(b"\x80\x04\x95")
    with pytest.raises(AssertionError, match="is a pickle"):
        harness.assert_only_safetensors_and_json(tmp_path)


# ---- in this process ----

@pytest.fixture(scope="module")
def example():
    import torch
    torch.set_num_threads(1)
    return example_module()


def test_load_best_model_at_end_loads_cairns_best(example, tmp_path):
    import torch
    trainer = example.make_trainer(example.parse_args(
        ["--dir", str(tmp_path / "run"), "--epochs", "1", "--sequences", "40",
         "--greater-is-better", "--load-best-model-at-end"]))
    trainer.train(resume_from_checkpoint=True)
    best = cairn.load_file(str(tmp_path / "run" / "best" / "model.safetensors"))
    assert trainer.state.best_global_step == 5
    model_state = trainer.model.state_dict()
    assert "lm_head.weight" not in best  # tied to transformer.wte.weight: saved once
    assert model_state["lm_head.weight"].data_ptr() == \
        model_state["transformer.wte.weight"].data_ptr()
    assert set(best) == set(model_state) - {"lm_head.weight"}
    for name, value in best.items():
        assert torch.equal(model_state[name], value), name


def test_a_resume_loads_the_model_after_model_init_made_it(example, tmp_path):
    import torch
    import transformers
    first = example.make_trainer(example.parse_args(
        ["--dir", str(tmp_path / "run"), "--epochs", "1", "--sequences", "40"]))
    first.train(resume_from_checkpoint=True)  # 5 steps, saved at step 5
    trained = {name: value.clone() for name, value in first.model.state_dict().items()}
    config = first.model.config
    again = cairn.transformers.CairnTrainer(
        model_init=lambda: transformers.GPT2LMHeadModel(config), args=first.args,
        train_dataset=first.train_dataset, eval_dataset=first.eval_dataset)
    again.train(resume_from_checkpoint=True)  # at max_steps already: restores, trains nothing
    assert again.cairn_resumed_from is not None and again.state.global_step == 5
    for name, value in again.model.state_dict().items():
        assert torch.equal(value, trained[name]), name


def test_a_value_that_cannot_be_stored_is_named(example, tmp_path):
    import transformers
    from transformers.trainer_callback import ExportableState

    class Remembers(transformers.TrainerCallback, ExportableState):
        def state(self):
            return {"args": {}, "attributes": {"seen": {1, 2}}}  # a set: not a plain value

    trainer = example.make_trainer(example.parse_args(
        ["--dir", str(tmp_path / "run"), "--epochs", "1", "--sequences", "40"]))
    trainer.add_callback(Remembers())
    with pytest.raises(cairn.InvalidArgumentError,
                       match=r"training_state\.trainer_state\.stateful_callbacks\.Remembers"
                             r"\.attributes\.seen"):
        trainer.train(resume_from_checkpoint=True)
    assert not (tmp_path / "run" / "checkpoints").exists() or \
        not list((tmp_path / "run" / "checkpoints").iterdir())


def test_misuse_is_refused_clearly(example, tmp_path):
    trainer = example.make_trainer(example.parse_args(["--dir", str(tmp_path / "run")]))
    with pytest.raises(cairn.InvalidArgumentError, match="save_total_limit=2 and "
                                                         "num_serialized_models_to_keep=5"):
        cairn.transformers.CairnTrainer(model=trainer.model, args=trainer.args,
                                        eval_dataset=trainer.eval_dataset,
                                        num_serialized_models_to_keep=5)
    with pytest.raises(cairn.InvalidArgumentError, match="pass True"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-5"))


def test_the_trainers_own_folders_of_an_earlier_run_are_left_alone(example, tmp_path):
    # A plain Trainer with save_total_limit=1 ends by deleting every checkpoint-* folder but the
    # best; CairnTrainer's retention is cairn's and deletes only cairn's checkpoints.
    directory = tmp_path / "run"
    earlier = directory / "checkpoint-3"
    earlier.mkdir(parents=True)
    (earlier / "notes.json").write_text("{}")
    options = example.parse_args(["--dir", str(directory), "--epochs", "1", "--sequences", "40"])
    made = example.make_trainer(options)
    trainer = cairn.transformers.CairnTrainer(
        model=made.model, args=dataclasses.replace(made.args, save_total_limit=1),
        train_dataset=made.train_dataset, eval_dataset=made.eval_dataset)
    trainer.train(resume_from_checkpoint=True)
    assert trainer.state.best_model_checkpoint is not None  # the Trainer's deletion would run
    assert (earlier / "notes.json").exists()
    assert trainer.args.save_total_limit == 1


def test_auto_find_batch_size_is_refused(example, tmp_path):
    made = example.make_trainer(example.parse_args(["--dir", str(tmp_path / "run")]))
    with pytest.raises(cairn.InvalidArgumentError, match="auto_find_batch_size"):
        cairn.transformers.CairnTrainer(
            model=made.model, args=dataclasses.replace(made.args, auto_find_batch_size=True),
            eval_dataset=made.eval_dataset)
