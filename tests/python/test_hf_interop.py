"""Interop with Hugging Face's safetensors package, both directions, with identical values."""
import numpy as np
import pytest
import torch
from safetensors import numpy as st_numpy

import cairn

ARRAYS = {
    "bool": np.array([True, False, True]),
    "u8": np.arange(7, dtype=np.uint8), "i8": np.arange(-3, 4, dtype=np.int8),
    "u16": np.arange(5, dtype=np.uint16), "i16": np.arange(-2, 3, dtype=np.int16),
    "u32": np.arange(5, dtype=np.uint32), "i32": np.arange(6, dtype=np.int32).reshape(2, 3),
    "u64": np.array([0, 2**63 + 5], dtype=np.uint64), "i64": np.array([-2**62, 7], dtype=np.int64),
    "f16": np.linspace(-1, 1, 5, dtype=np.float16), "f32": np.random.default_rng(0).random((4, 5), dtype=np.float32),
    "f64": np.array([np.pi, -0.0, np.inf]), "scalar": np.array(2.5, dtype=np.float32),
    "empty": np.zeros((0, 3), dtype=np.float32),
}


def test_files_cairn_writes_open_in_safetensors_numpy(tmp_path):
    path = tmp_path / "cairn.safetensors"
    cairn.save_file({"layer": dict(ARRAYS)}, path)
    loaded = st_numpy.load_file(str(path))
    assert set(loaded) == {f"layer.{name}" for name in ARRAYS}  # PyTorch-style dotted names
    for name, array in ARRAYS.items():
        assert loaded[f"layer.{name}"].dtype == array.dtype
        np.testing.assert_array_equal(loaded[f"layer.{name}"], array)


def test_files_safetensors_numpy_writes_load_in_cairn(tmp_path):
    path = tmp_path / "hf.safetensors"
    st_numpy.save_file(ARRAYS, str(path), metadata={"format": "np"})
    loaded = cairn.load_file(path, tensor_type="numpy")
    assert set(loaded) == set(ARRAYS)
    for name, array in ARRAYS.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)


def torch_tensors():
    tensors = {"w": torch.randn(3, 4), "b16": torch.randn(5).to(torch.bfloat16),
               "h": torch.randn(2, 2).half(), "mask": torch.tensor([True, False]),
               "ids": torch.arange(6, dtype=torch.int64).reshape(2, 3)}
    # torch 2's dtypes (absent from torch 1.13), each with every byte value it can take.
    codes = torch.arange(256, dtype=torch.int64).to(torch.uint8)
    for name in ("float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64"):
        if hasattr(torch, name):
            tensors[name] = codes.clone().view(getattr(torch, name)).reshape(2, -1)
    return tensors


def same_bytes(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8))


def test_torch_files_both_directions(tmp_path):
    import safetensors.torch as st_torch  # both test venvs have it: never skipped
    tensors = torch_tensors()
    cairn.save_file(tensors, tmp_path / "cairn.safetensors")
    loaded = st_torch.load_file(str(tmp_path / "cairn.safetensors"))
    assert sorted(loaded) == sorted(tensors)
    for name, tensor in loaded.items():
        assert same_bytes(tensor, tensors[name]), name
    st_torch.save_file(tensors, str(tmp_path / "hf.safetensors"))
    loaded = cairn.load_file(tmp_path / "hf.safetensors")
    assert sorted(loaded) == sorted(tensors)
    for name, tensor in loaded.items():
        assert same_bytes(tensor, tensors[name]), name


def test_checkpoint_files_open_in_safetensors(tmp_path):
    model = torch.nn.Linear(3, 2)

    class Trainer:
        def get_checkpoint_state(self):
            return model.state_dict(), {"note": "x"}

    checkpointer = cairn.Checkpointer(tmp_path / "run")
    checkpointer.save_checkpoint(0, Trainer())
    model_path, _ = checkpointer.find_latest_checkpoint()
    loaded = st_numpy.load_file(model_path)
    assert set(loaded) == {"weight", "bias"}
    np.testing.assert_array_equal(loaded["weight"], model.weight.detach().numpy())
