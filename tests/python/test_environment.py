"""The interpreter a CTest entry runs this suite with has the torch and numpy it is meant to test
(CAIRN_EXPECT_TORCH_MAJOR, CAIRN_EXPECT_NUMPY_MAJOR): a venv that fell back to Debian's torch
1.13 cannot pass as the torch 2 run."""
import os

import numpy as np
import torch


def test_torch_and_numpy_are_the_ones_the_run_expects():
    for module, variable in ((torch, "CAIRN_EXPECT_TORCH_MAJOR"), (np, "CAIRN_EXPECT_NUMPY_MAJOR")):
        expected = os.environ.get(variable)
        if expected is not None:
            assert module.__version__.split(".")[0] == expected, (module.__name__, module.__version__)
