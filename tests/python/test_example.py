"""examples/train_resume.py killed with SIGKILL mid-epoch and run again ends with the same weights
as a run that never stopped."""
import os
import signal
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_resume.py")


def run(*args):
    return subprocess.run([sys.executable, EXAMPLE, "--epochs", "3", "--batches", "20", *args],
                          capture_output=True, text=True, timeout=300)


def test_killed_and_resumed_run_matches_the_uninterrupted_one(tmp_path):
    reference = run("--dir", str(tmp_path / "reference"), "--final", str(tmp_path / "reference.safetensors"))
    assert reference.returncode == 0, reference.stderr
    killed = run("--dir", str(tmp_path / "run"), "--save-interval", "0", "--die-at-batch", "27")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "dying at epoch 1, batch 7" in killed.stdout
    resumed = run("--dir", str(tmp_path / "run"), "--save-interval", "0", "--final", str(tmp_path / "run.safetensors"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at epoch 1, batch 7" in resumed.stdout
    assert (tmp_path / "run.safetensors").read_bytes() == (tmp_path / "reference.safetensors").read_bytes()
    assert "kept: one of the last 2" in resumed.stdout
