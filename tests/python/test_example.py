"""examples/train_resume.py killed with SIGKILL, at a chosen batch or at random instants, and run
again ends with the same weights, byte for byte, as a run that never stopped."""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integrations"))
import harness  # noqa: E402  the kill/resume protocol the framework integrations' tests share

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_resume.py")
ARGS = ["--epochs", "3", "--batches", "30", "--save-interval", "0"]


def run(*args):
    return subprocess.run([sys.executable, EXAMPLE, *ARGS, *args],
                          capture_output=True, text=True, timeout=300)


def reference_run(tmp_path):
    """The uninterrupted run: its final weights, and how long it trained (start-up left out)."""
    final = tmp_path / "reference.safetensors"
    done, trained = harness.timed_run(EXAMPLE, ARGS + ["--dir", str(tmp_path / "reference"),
                                                       "--final", str(final)])
    assert "resuming" not in done.output
    return final.read_bytes(), trained


def test_killed_at_a_batch_and_resumed_matches_the_uninterrupted_run(tmp_path):
    expected, _ = reference_run(tmp_path)
    killed = run("--dir", str(tmp_path / "run"), "--die-at-batch", "37")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "dying at epoch 1, batch 7" in killed.stdout
    resumed = run("--dir", str(tmp_path / "run"), "--final", str(tmp_path / "run.safetensors"))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at epoch 1, batch 7 (step 37" in resumed.stdout
    assert (tmp_path / "run.safetensors").read_bytes() == expected
    assert "kept: one of the last 2" in resumed.stdout


def test_killed_at_random_instants_and_resumed_matches_the_uninterrupted_run(tmp_path):
    expected, seconds = reference_run(tmp_path)
    killed = harness.kill_at_random_instants(EXAMPLE, ARGS + ["--dir", str(tmp_path / "run")],
                                             seconds, kills=4)
    assert killed.kills >= 2, str(killed)
    finished = run("--dir", str(tmp_path / "run"), "--final", str(tmp_path / "run.safetensors"))
    assert finished.returncode == 0, finished.stderr
    assert (tmp_path / "run.safetensors").read_bytes() == expected, str(killed)
