"""Every kind of value a training state holds goes through save_file/load_file unchanged."""
import json

import numpy as np
import pytest
import torch

import cairn

TORCH_DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
                torch.float16, torch.bfloat16, torch.float32, torch.float64]
NUMPY_DTYPES = [np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64,
                np.int64, np.float16, np.float32, np.float64]


def sample(dtype, shape=(3, 4)):
    values = torch.arange(int(np.prod(shape)), dtype=torch.float64).reshape(shape) * 1.5 - 4
    return values > 0 if dtype == torch.bool else values.to(dtype)


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_every_torch_dtype_round_trips(tmp_path, dtype):
    tensor = sample(dtype)
    cairn.save_file({"t": tensor, "scalar": sample(dtype, ()), "empty": sample(dtype, (0, 2))},
                    tmp_path / "f.safetensors")
    loaded = cairn.load_file(tmp_path / "f.safetensors")
    for key, expected in (("t", tensor), ("scalar", sample(dtype, ())), ("empty", sample(dtype, (0, 2)))):
        assert loaded[key].dtype == dtype
        assert loaded[key].shape == expected.shape
        assert torch.equal(loaded[key], expected)


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_numpy_dtype_round_trips(tmp_path, dtype):
    array = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
    cairn.save_file({"a": array}, tmp_path / "f.safetensors")
    loaded = cairn.load_file(tmp_path / "f.safetensors", tensor_type="numpy")["a"]
    assert loaded.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded, array)


def test_non_contiguous_and_non_native_inputs_are_saved_as_their_values(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    big_endian = np.arange(6, dtype=">i4")
    cairn.save_file({"t": base.t(), "slice": base[:, ::2], "be": big_endian, "f": np.asfortranarray(np.eye(3))},
                    tmp_path / "f.safetensors")
    loaded = cairn.load_file(tmp_path / "f.safetensors")
    assert torch.equal(loaded["t"], base.t().contiguous())
    assert torch.equal(loaded["slice"], base[:, ::2].contiguous())
    assert loaded["be"].tolist() == list(range(6))
    assert torch.equal(loaded["f"], torch.eye(3, dtype=torch.float64))


def test_the_tree_round_trips_with_integer_keys_and_scalars(tmp_path):
    state = {
        "state": {0: {"step": 3, "exp_avg": torch.ones(2)}, 1: {"step": 3, "exp_avg": torch.zeros(2)}},
        "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": [0, 1], "amsgrad": False,
                          "name": "main", "maybe": None}],
        "big": 2**62, "negative": -7, "nan": float("nan"),
    }
    cairn.save_file(state, tmp_path / "f.safetensors")
    loaded = cairn.load_file(tmp_path / "f.safetensors")
    assert list(loaded["state"]) == [0, 1]  # integer keys come back as integers, in order
    assert loaded["state"][0]["step"] == 3
    assert torch.equal(loaded["state"][1]["exp_avg"], torch.zeros(2))
    group = loaded["param_groups"][0]
    assert group == {"lr": 0.001, "betas": [0.9, 0.999], "params": [0, 1], "amsgrad": False,
                     "name": "main", "maybe": None}  # tuples come back as lists
    assert loaded["big"] == 2**62 and loaded["negative"] == -7
    assert loaded["nan"] != loaded["nan"]


def test_values_cairn_cannot_save_are_refused_with_their_path(tmp_path):
    path = tmp_path / "f.safetensors"
    cases = [
        ({"a": {"b": torch.zeros(2, dtype=torch.complex64)}}, '"a.b": torch dtype torch.complex64'),
        ({"a": [1, {2, 3}]}, '"a.1": a set is not a tensor'),
        ({"a": {1: 2, "x": 3}}, '"a": map keys must be all str or all int, not int, str'),
        ({"a": 2**70}, "does not fit in 64 bits"),
        ({"a": np.zeros(2, dtype=np.complex128)}, "numpy dtype complex128 has no safetensors equivalent"),
        ({"__cairn_int_keys__": 1}, "is reserved"),
    ]
    for state, message in cases:
        with pytest.raises(cairn.InvalidArgumentError, match=None) as error:
            cairn.save_file(state, path)
        assert message in str(error.value)
        assert isinstance(error.value, ValueError)
    assert not path.exists()  # nothing written, not even a partial file


def test_views_are_writable_and_private_and_copies_are_owned(tmp_path):
    path = tmp_path / "f.safetensors"
    cairn.save_file({"a": np.arange(4, dtype=np.float32)}, path)
    saved = path.read_bytes()
    view = cairn.load_file(path, tensor_type="numpy", copy=False)["a"]
    other = cairn.load_file(path, tensor_type="numpy", copy=False)["a"]
    assert view.flags.writeable and other.flags.writeable
    view[0] = 7  # a private copy-on-write mapping: the write stays in this array
    assert view.tolist() == [7, 1, 2, 3]
    assert other.tolist() == [0, 1, 2, 3]
    assert path.read_bytes() == saved
    copy = cairn.load_file(path, tensor_type="numpy", copy=True)["a"]
    assert copy.flags.owndata and copy.tolist() == [0, 1, 2, 3]
    copy[1] = 9
    path.unlink()
    assert view.tolist() == [7, 1, 2, 3]  # the mapping outlives the file while referenced
    assert other.tolist() == [0, 1, 2, 3]


def test_bfloat16_as_numpy_is_exact_float32(tmp_path):
    values = torch.tensor([1.5, -2.25, 3e38, 1e-3], dtype=torch.bfloat16)
    cairn.save_file({"b": values}, tmp_path / "f.safetensors")
    loaded = cairn.load_file(tmp_path / "f.safetensors", tensor_type="numpy")["b"]
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, values.float().numpy())


def test_damaged_files_raise_corrupt_data_error_naming_the_file(tmp_path):
    path = tmp_path / "f.safetensors"
    cairn.save_file({"a": torch.arange(100, dtype=torch.float32)}, path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(cairn.CorruptDataError) as error:
        cairn.load_file(path)
    assert str(path) in str(error.value)
    assert isinstance(error.value, cairn.Error)
    with pytest.raises(cairn.IoError) as missing:
        cairn.load_file(tmp_path / "missing.safetensors")
    assert missing.value.errno == 2 and isinstance(missing.value, OSError)


def test_metadata_goes_into_the_header(tmp_path):
    from safetensors import safe_open
    cairn.save_file({"a": np.zeros(1, dtype=np.float32)}, tmp_path / "f.safetensors", metadata={"run": "7"})
    with safe_open(str(tmp_path / "f.safetensors"), framework="numpy") as f:
        assert f.metadata()["run"] == "7"
    with pytest.raises(cairn.InvalidArgumentError):
        cairn.save_file({"a": np.zeros(1)}, tmp_path / "g.safetensors", metadata={"run": 7})


def test_unsigned_types_round_trip_or_widen_where_torch_lacks_them(tmp_path):
    path = tmp_path / "f.safetensors"
    cairn.save_file({"u16": np.array([0, 65535], dtype=np.uint16), "u32": np.array([2**32 - 1], dtype=np.uint32),
                     "u64": np.array([5, 2**64 - 1], dtype=np.uint64)}, path)
    assert cairn.load_file(path, tensor_type="numpy")["u64"].tolist() == [5, 2**64 - 1]
    if all(hasattr(torch, name) for name in ("uint16", "uint32", "uint64")):  # torch 2.3 and later
        loaded = cairn.load_file(path)
        assert loaded["u16"].dtype == torch.uint16 and loaded["u16"].numpy().tolist() == [0, 65535]
        assert loaded["u32"].dtype == torch.uint32 and loaded["u32"].numpy().tolist() == [2**32 - 1]
        assert loaded["u64"].dtype == torch.uint64 and loaded["u64"].numpy().tolist() == [5, 2**64 - 1]
        return
    with pytest.raises(cairn.InvalidArgumentError, match='"u64" holds U64 values above the int64 range'):
        cairn.load_file(path)
    cairn.save_file({"u16": np.array([0, 65535], dtype=np.uint16), "u32": np.array([2**32 - 1], dtype=np.uint32),
                     "u64": np.array([5], dtype=np.uint64)}, path)
    loaded = cairn.load_file(path)
    assert loaded["u16"].dtype == torch.int32 and loaded["u16"].tolist() == [0, 65535]
    assert loaded["u32"].dtype == torch.int64 and loaded["u32"].tolist() == [2**32 - 1]
    assert loaded["u64"].dtype == torch.int64 and loaded["u64"].tolist() == [5]


def test_issue_16_float32_saves_with_numpy_2(tmp_path):
    # numpy 2 moved the fields of its dtype struct: pybind11 2.10 read every itemsize as 0 and
    # refused "numpy dtype float32 has no safetensors equivalent".
    cairn.save_file({"w": torch.ones(3), "a": np.ones(2, dtype=np.float32)}, tmp_path / "f.safetensors")
    loaded = cairn.load_file(tmp_path / "f.safetensors")
    assert torch.equal(loaded["w"], torch.ones(3)) and torch.equal(loaded["a"], torch.ones(2))


def write_safetensors(path, tensors):
    """A safetensors file written by hand: {name: (dtype name, shape, bytes)}."""
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)


def test_float8_files_load_as_their_float32_values(tmp_path):
    codes = bytes([0x00, 0x01, 0x38, 0x7E, 0x7F, 0xB8, 0xFE])
    write_safetensors(tmp_path / "f.safetensors", {"e4m3": ("F8_E4M3", [7], codes),
                                                   "e5m2": ("F8_E5M2", [7], bytes([0x00, 0x01, 0x3C, 0x7B, 0x7C, 0x7D, 0xBC])),
                                                   "scalar": ("F8_E4M3", [], bytes([0x38]))})
    e4m3 = [0.0, 2.0**-9, 1.0, 448.0, float("nan"), -1.0, -448.0]
    e5m2 = [0.0, 2.0**-16, 1.0, 57344.0, float("inf"), float("nan"), -1.0]
    for tensor_type in ("numpy", "torch"):
        loaded = cairn.load_file(tmp_path / "f.safetensors", tensor_type=tensor_type)
        if tensor_type == "torch" and not hasattr(torch, "float8_e4m3fn"):
            loaded = {key: value.numpy() for key, value in loaded.items()}
        elif tensor_type == "torch":
            loaded = {key: value.float().numpy() for key, value in loaded.items()}
        np.testing.assert_array_equal(loaded["e4m3"], np.array(e4m3, dtype=np.float32))
        np.testing.assert_array_equal(loaded["e5m2"], np.array(e5m2, dtype=np.float32))
        assert loaded["scalar"].shape == () and loaded["scalar"] == 1.0


# Every safetensors dtype, as torch names it. torch 1.13 lacks the float8 and the wider unsigned
# types; torch 2 (2.3 on) has them all.
SAFETENSORS_TORCH_DTYPES = ["bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64",
                            "int64", "float16", "bfloat16", "float32", "float64", "float8_e4m3fn",
                            "float8_e5m2"]
PRESENT_TORCH_DTYPES = [name for name in SAFETENSORS_TORCH_DTYPES if hasattr(torch, name)]


def test_torch_2_has_every_safetensors_dtype():
    # Guards the test below from passing on fewer dtypes than the torch it runs with has.
    if int(torch.__version__.split(".")[0]) >= 2:
        assert PRESENT_TORCH_DTYPES == SAFETENSORS_TORCH_DTYPES
    else:
        assert len(PRESENT_TORCH_DTYPES) >= 10


def bit_patterns(dtype):
    """Many of dtype's bit patterns (every one of the 1- and 2-byte types, NaNs included)."""
    size = torch.empty((), dtype=dtype).element_size()
    if dtype == torch.bool:
        codes = np.array([0, 1, 1, 0, 1, 0, 0, 1] * 4, dtype=np.uint8)
    elif size <= 2:
        codes = np.arange(2 ** (8 * size), dtype=np.uint8 if size == 1 else np.uint16)
    else:
        codes = np.random.default_rng(16).integers(0, 256, size * 4096, dtype=np.uint8)
    return torch.frombuffer(bytearray(codes.tobytes()), dtype=torch.uint8).view(dtype)


def raw_bytes(tensor):
    return tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "view"])
@pytest.mark.parametrize("name", PRESENT_TORCH_DTYPES)
def test_every_safetensors_dtype_torch_has_round_trips_byte_for_byte(tmp_path, name, copy):
    dtype = getattr(torch, name)
    patterns = bit_patterns(dtype)
    state = {"flat": patterns, "matrix": patterns[:12].reshape(3, 4), "scalar": patterns[1].clone(),
             "empty": patterns[:0].reshape(0, 3), "strided": patterns[:12].reshape(3, 4).t()}
    cairn.save_file(state, tmp_path / "f.safetensors")
    loaded = cairn.load_file(tmp_path / "f.safetensors", copy=copy)
    for key, expected in state.items():
        assert loaded[key].dtype == dtype, key
        assert loaded[key].shape == expected.shape, key
        assert raw_bytes(loaded[key]) == raw_bytes(expected), key
    # As numpy: itself where numpy has the dtype, else (BF16, F8) exact float32 values.
    as_numpy = cairn.load_file(tmp_path / "f.safetensors", tensor_type="numpy", copy=copy)
    for key, expected in state.items():
        assert as_numpy[key].shape == expected.shape, key
        if name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
            assert as_numpy[key].dtype == np.float32, key
            np.testing.assert_array_equal(as_numpy[key], expected.float().numpy())
        else:
            assert as_numpy[key].dtype == np.dtype(name), key
            assert as_numpy[key].tobytes() == raw_bytes(expected), key
