"""The GIL is released while cairn writes: another Python thread runs between the moment the
checkpointer takes the state from the trainer and the moment it logs the finished save. The
switch interval is made huge, so the thread can only run when the saving thread gives the GIL
up itself; with the GIL held throughout the save, it could not run in between at all."""
import logging
import sys
import threading

import numpy as np

import cairn


def test_other_threads_run_while_a_checkpoint_is_written(run_dir):
    state_taken = threading.Event()
    other_thread_ran = threading.Event()
    seen_when_saved = []

    def other_thread():
        state_taken.wait(60)
        other_thread_ran.set()

    big = np.ones(16 * 1024 * 1024, dtype=np.float32)  # 64 MiB to write; made here, since
    # numpy itself releases the GIL while it fills a large array

    class Trainer:
        def get_checkpoint_state(self):
            state_taken.set()
            return {"big": big}, {}

    class Spy(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("saved "):
                seen_when_saved.append(other_thread_ran.is_set())

    logger = logging.getLogger("cairn")
    spy = Spy()
    logger.addHandler(spy)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    thread = threading.Thread(target=other_thread)
    thread.start()
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1000)
    try:
        checkpointer = cairn.Checkpointer(run_dir)
        # A first save imports what a save imports (importing reads files, without the GIL).
        checkpointer.save_checkpoint(0, type("Small", (), {"get_checkpoint_state": lambda self: ({}, {})})())
        checkpointer.save_checkpoint(1, Trainer())
    finally:
        sys.setswitchinterval(old_interval)
        logger.removeHandler(spy)
        logger.setLevel(old_level)
        state_taken.set()
        thread.join()
    assert seen_when_saved == [False, True]  # the warm-up save came before the state was taken
