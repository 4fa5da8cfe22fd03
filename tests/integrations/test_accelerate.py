"""cairn.accelerate under Hugging Face Accelerate 1.15 (CPU, one process): examples/
accelerate_resume.py killed with SIGKILL at random instants and run again ends with the same
weights, byte for byte, as a run that never stopped, having trained every batch on the samples
the uninterrupted run did; the directory holds only safetensors and JSON; a damaged newest
checkpoint is skipped; registered objects, accelerator.step and the dataloaders' state
round-trip; an unstorable value is named."""
import logging
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration
from accelerate.state import AcceleratorState, GradientState

import cairn
import cairn.accelerate
import harness

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "accelerate_resume.py"
EPOCHS, BATCHES, SAVE_EVERY = 4, 100, 5
ARGS = ["--epochs", str(EPOCHS), "--batches", str(BATCHES), "--save-every", str(SAVE_EVERY)]


def step_of(info: cairn.CheckpointInfo) -> int:
    """The global step a checkpoint of the example was saved at."""
    return info.resume_epoch * BATCHES + info.resume_batches


def newest_step_on_disk(folder: Path) -> int:
    """The step of the newest checkpoint in ``folder``, as a restore finds it."""
    newest = harness.newest_checkpoint(folder)
    if newest.batches_this_epoch is None:
        return (newest.epoch + 1) * BATCHES
    return newest.epoch * BATCHES + newest.batches_this_epoch


def batch_orders(log: Path):
    """{(epoch, batch): sample ids} of an order log; a batch trained twice (before a kill and
    after the resume) must have had the same samples both times."""
    orders = {}
    for line in log.read_text().splitlines():
        epoch, batch, ids = line.split()
        assert orders.setdefault((int(epoch), int(batch)), ids) == ids, f"batch {epoch}/{batch}"
    return orders


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its folder, final weights, order log and training seconds."""
    root = tmp_path_factory.mktemp("reference")
    run, seconds = harness.timed_run(EXAMPLE, [*ARGS, "--dir", str(root / "run"), "--final",
                                               str(root / "final.safetensors"), "--order-log",
                                               str(root / "order.log")])
    assert run.resumed_step is None, run.output
    assert f"done after {EPOCHS * BATCHES} steps" in run.output
    return root, (root / "final.safetensors").read_bytes(), batch_orders(root / "order.log"), \
        seconds


def test_killed_at_random_instants_resumes_the_newest_and_ends_byte_identical(reference,
                                                                            tmp_path):
    _, expected, expected_orders, seconds = reference
    args = [*ARGS, "--dir", str(tmp_path / "run"), "--order-log", str(tmp_path / "order.log")]
    killed = harness.kill_at_random_instants(EXAMPLE, args, seconds)
    assert killed.kills >= 2, killed
    newest = newest_step_on_disk(tmp_path / "run")
    final = harness.run(EXAMPLE, [*args, "--final", str(tmp_path / "final.safetensors")])
    assert final.resumed_step == newest, f"{killed}\nfinal:\n{final.output}"
    assert (tmp_path / "final.safetensors").read_bytes() == expected, killed
    # Every batch any of the runs trained on, the resumed epochs' included, held the samples
    # the uninterrupted run's batch of that epoch and index did: the shuffled order came back.
    orders = batch_orders(tmp_path / "order.log")
    assert len(orders) == EPOCHS * BATCHES
    assert orders == expected_orders, killed
    assert harness.assert_only_safetensors_and_json(tmp_path / "run") > 0


def test_a_damaged_newest_checkpoint_is_skipped_for_the_one_before(reference, tmp_path):
    _, expected, _, _ = reference
    folder = tmp_path / "run"
    # Saves every 6 batches: the one before the newest (the last epoch's end) is inside the
    # last epoch after 96 batches, so the rerun trains; the final weights do not depend on
    # when saves happen.
    args = ["--epochs", str(EPOCHS), "--batches", str(BATCHES), "--save-every", "6",
            "--dir", str(folder)]
    harness.run(EXAMPLE, args)
    checkpoints = cairn.list_directory(folder).checkpoints
    newest, before = checkpoints[-1], checkpoints[-2]
    assert (before.epoch, before.batches_this_epoch) == (EPOCHS - 1, 96), checkpoints
    harness.flip_a_byte(Path(newest.model_path))
    rerun = harness.run(EXAMPLE, [*args, "--final", str(tmp_path / "final.safetensors")])
    assert f"skipping checkpoint {newest.name}: " in rerun.output, rerun.output  # the warning
    assert "checksum mismatch" in rerun.output, rerun.output
    assert f"resumed from {before.name} at step {step_of(before)}" in rerun.output
    assert rerun.resumed_step == step_of(before) == EPOCHS * BATCHES - 4
    assert (tmp_path / "final.safetensors").read_bytes() == expected


def test_the_directory_holds_only_safetensors_and_json_and_accelerates_own_writer_fails_the_scan(
        reference, tmp_path):
    root = reference[0]
    assert harness.assert_only_safetensors_and_json(root / "run") >= 2 * 3  # 2+ checkpoints
    accelerator, _ = prepared()
    accelerator.save_state(str(tmp_path / "accelerate"))  # safe_serialization=True, the default
    written = sorted(path.name for path in (tmp_path / "accelerate").iterdir())
    assert "model.safetensors" in written and "optimizer.bin" in written, written
    with pytest.raises(AssertionError, match=r"\.(bin|pkl) is a (pickle|zip)"):
        harness.assert_only_safetensors_and_json(tmp_path / "accelerate")


# ---- in this process ----

class Counter:
    def __init__(self, value=None):
        self.value = value

    def state_dict(self):
        return {"value": self.value}

    def load_state_dict(self, state):
        self.value = state["value"]


def prepared(*registered, **accelerator_options):
    """A fresh Accelerator (its state is a per-process singleton) with a model, AdamW that has
    stepped, a scheduler and a shuffling loader prepared, and ``registered`` registered."""
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    torch.manual_seed(0)
    accelerator = Accelerator(cpu=True, **accelerator_options)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(12, 4)),
                                         batch_size=4, shuffle=True, generator=torch.Generator())
    model, optimizer, scheduler, loader = accelerator.prepare(model, optimizer, scheduler, loader)
    for (inputs,) in loader:
        accelerator.backward(model(inputs).square().mean())
        optimizer.step()
        scheduler.step()
    accelerator.register_for_checkpointing(*registered)
    return accelerator, (model, optimizer, scheduler, loader)


def test_registered_objects_step_and_dataloader_state_round_trip(tmp_path):
    counter = Counter({"seen": [1, 2, 3], "name": "warm-up"})
    accelerator, (model, optimizer, scheduler, loader) = prepared(counter)
    accelerator.step = 3
    state = cairn.accelerate.CairnState(accelerator, tmp_path)
    state.save(epoch=0, batches_this_epoch=2)
    weights = {key: value.clone() for key, value in model.state_dict().items()}
    moments = optimizer.state_dict()["state"][0]["exp_avg"].clone()
    generator_state = loader.get_sampler().generator.get_state()
    rng_draw = torch.rand(3)

    counter.value, accelerator.step = None, 0
    loader.set_epoch(9)
    loader.get_sampler().generator.manual_seed(123)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    optimizer.step()
    scheduler.step()
    info = state.load()

    assert (info.resume_epoch, info.resume_batches) == (0, 2)
    assert counter.value == {"seen": [1, 2, 3], "name": "warm-up"}
    assert accelerator.step == 3 and loader.iteration == 1
    assert torch.equal(loader.get_sampler().generator.get_state(), generator_state)
    assert all(torch.equal(model.state_dict()[key], value) for key, value in weights.items())
    assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], moments)
    assert scheduler.get_last_lr() == [0.1 * 0.5 ** 3]
    assert torch.equal(torch.rand(3), rng_draw)  # torch's generator is back where it was saved
    names = set(cairn.Checkpointer(tmp_path).restore_checkpoint()[1])
    assert {"optimizer", "scheduler", "custom_0", "rng", "accelerate"} <= names


def test_a_value_that_cannot_be_stored_is_named_and_nothing_is_written(tmp_path):
    accelerator, _ = prepared(Counter(), Counter({"vocab": {"a", "b"}}))
    state = cairn.accelerate.CairnState(accelerator, tmp_path)
    with pytest.raises(cairn.InvalidArgumentError, match=r"custom_1\.value\.vocab"):
        state.save(epoch=0)
    assert len(cairn.list_directory(tmp_path).checkpoints) == 0


def test_resuming_inside_an_epoch_of_an_unseeded_random_sampler_warns(tmp_path, caplog):
    accelerator, _ = prepared()
    state = cairn.accelerate.CairnState(accelerator, tmp_path)
    state.save(epoch=0, batches_this_epoch=1)
    with caplog.at_level(logging.WARNING, logger="cairn"):
        assert state.load().resume_batches == 1
    assert "use_seedable_sampler=True" in caplog.text


def test_a_total_limit_of_accelerate_is_named_as_not_applying(tmp_path, caplog):
    accelerator, _ = prepared(project_config=ProjectConfiguration(total_limit=3))
    with caplog.at_level(logging.WARNING, logger="cairn"):
        cairn.accelerate.CairnState(accelerator, tmp_path, num_serialized_models_to_keep=1)
    assert "total_limit=3" in caplog.text and "num_serialized_models_to_keep" in caplog.text


def test_maybe_save_saves_inside_the_epoch_when_the_interval_has_passed(tmp_path):
    accelerator, _ = prepared()
    state = cairn.accelerate.CairnState(accelerator, tmp_path, model_save_interval=0)
    assert state.maybe_save(epoch=1, batches_this_epoch=2)
    (saved,) = cairn.list_directory(tmp_path).checkpoints
    assert (saved.epoch, saved.batches_this_epoch) == (1, 2)


def test_an_accelerator_without_the_lists_it_reads_is_refused_naming_them(tmp_path):
    accelerator, _ = prepared()
    del accelerator._custom_objects  # as an Accelerate that renamed it would be
    with pytest.raises(cairn.InvalidArgumentError, match=r"_custom_objects.*written for 1\.15\.0"):
        cairn.accelerate.CairnState(accelerator, tmp_path)
