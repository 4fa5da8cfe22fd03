"""examples/train_resume.py killed with SIGKILL, at a chosen batch or at random instants, and run
again ends with the same weights, byte for byte, as a run that never stopped."""
import os
import random
import signal
import subprocess
import sys
import time

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_resume.py")
ARGS = ["--epochs", "3", "--batches", "30", "--save-interval", "0"]


def run(*args):
    return subprocess.run([sys.executable, EXAMPLE, *ARGS, *args],
                          capture_output=True, text=True, timeout=300)


def reference_run(tmp_path):
    """The uninterrupted run: its final weights, and how long it trained (start-up left out)."""
    process = subprocess.Popen([sys.executable, EXAMPLE, *ARGS, "--dir", str(tmp_path / "reference"),
                                "--final", str(tmp_path / "reference.safetensors")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output = ""
    for line in process.stdout:
        output += line
        if line.startswith("training from"):
            started = time.monotonic()
            break
    output += process.stdout.read()
    assert process.wait(timeout=300) == 0, process.stderr.read()
    trained = time.monotonic() - started
    assert "resuming" not in output
    return (tmp_path / "reference.safetensors").read_bytes(), trained


def start_and_kill(directory, delay):
    """Starts the example, waits until it trains, lets it run `delay` seconds and kills it with
    SIGKILL. Returns its exit status and what it printed."""
    process = subprocess.Popen([sys.executable, EXAMPLE, *ARGS, "--dir", str(directory)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("training from"):
            break
    time.sleep(delay)
    process.kill()
    lines.extend(process.stdout)
    return process.wait(timeout=60), "".join(lines)


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
    seed = int.from_bytes(os.urandom(4), "little")
    chooser = random.Random(seed)
    statuses, outputs = [], []
    for _ in range(4):
        # A third of the training time: most kills land inside training, some inside a save
        # (which must be as harmless), and the four do not finish the run before the check.
        status, output = start_and_kill(tmp_path / "run", chooser.uniform(0.0, seconds / 3))
        statuses.append(status)
        outputs.append(output)
        if status == 0:
            break
    context = f"seed {seed}, statuses {statuses}, outputs {outputs}"
    assert statuses.count(-signal.SIGKILL) >= 2, context
    finished = run("--dir", str(tmp_path / "run"), "--final", str(tmp_path / "run.safetensors"))
    assert finished.returncode == 0, finished.stderr
    assert (tmp_path / "run.safetensors").read_bytes() == expected, context
