"""Shared pieces of the Python tests. They import the package from the build tree
(PYTHONPATH=<build>/python, set by CTest) or wherever it is installed."""
import pytest
import torch


class DictTrainer:
    """A trainer in AllenNLP's protocol: get_checkpoint_state() returns the pair."""

    def __init__(self, model_state=None, training_state=None):
        self.model_state = model_state if model_state is not None else {"w": torch.zeros(3)}
        self.training_state = training_state if training_state is not None else {}
        self.calls = 0

    def get_checkpoint_state(self):
        self.calls += 1
        return self.model_state, self.training_state


def epoch_of_name(name):
    return int(name.split("-epoch")[1].split("-")[0])


@pytest.fixture
def run_dir(tmp_path):
    return tmp_path / "run"
