"""Ctrl-C while saving: the save in progress commits whole (the GIL is released while it writes,
so KeyboardInterrupt arrives once it returns), and every checkpoint left restores."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import cairn

CHILD = textwrap.dedent("""
    import signal, sys, numpy as np, cairn
    # A job started in the background inherits SIGINT ignored; a terminal's Ctrl-C is not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    state = {"big": np.ones(32 * 1024 * 1024, dtype=np.float32)}  # 128 MiB: a save takes a while
    class Trainer:
        def get_checkpoint_state(self):
            return state, {}
    checkpointer = cairn.Checkpointer(sys.argv[1], num_serialized_models_to_keep=2)
    epoch = 0
    while True:
        checkpointer.save_checkpoint(epoch, Trainer())
        print(epoch, flush=True)
        epoch += 1
""")


def test_ctrl_c_during_saves_leaves_only_whole_checkpoints(tmp_path):
    run_dir = tmp_path / "run"
    for delay in (0.05, 0.13, 0.31):  # a few different moments inside and between saves
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(run_dir)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        assert child.stdout.readline().strip().isdigit()  # one save done
        time.sleep(delay)
        child.send_signal(signal.SIGINT)
        try:
            _, err = child.communicate(timeout=120)
        finally:
            child.kill()
        assert "KeyboardInterrupt" in err, err
        checkpointer = cairn.Checkpointer(run_dir)
        listed = checkpointer.list_checkpoints()
        assert listed, "no checkpoint survived"
        on_disk = sorted(os.listdir(run_dir / "checkpoints"))
        assert on_disk == [info.name for info in listed]  # nothing partial, nothing unowned
        for info in listed:  # every tensor's checksum verifies
            assert cairn.load_file(info.model_path, tensor_type="numpy", copy=False)["big"].shape == (32 * 1024 * 1024,)
            cairn.load_file(info.training_state_path, tensor_type="numpy", copy=False)
        assert checkpointer.restore_checkpoint(tensor_type="numpy", copy=False)[1]["epoch"] == listed[-1].epoch
