"""cairn <-> Hugging Face safetensors, both directions, on real files.

1. Files cairn wrote open with safetensors.safe_open: same tensor names, dtypes, shapes, and
   (for the dtypes numpy has) the same bytes, by SHA-256; cairn's metadata is plain strings.
2. Files safetensors.numpy.save_file wrote load in cairn with the same values.

Usage: python hf_safetensors_interop.py INTEROP_TOOL WORKDIR
"""
import hashlib
import json
import pathlib
import subprocess
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

NUMPY_DTYPES = {"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F16", "F32", "F64"}


def check_cairn_files(tool, folder):
    subprocess.run([tool, "write", str(folder)], check=True)
    expected = json.loads((folder / "expected.json").read_text())
    checked = 0
    for file_name, tensors in expected.items():
        with safe_open(str(folder / file_name), framework="numpy") as opened:
            assert sorted(opened.keys()) == sorted(tensors), file_name
            metadata = opened.metadata()
            assert metadata["writer"] == "cairn", metadata
            assert all(isinstance(v, str) for v in metadata.values())
            for name, want in tensors.items():
                view = opened.get_slice(name)
                assert view.get_dtype() == want["dtype"], (file_name, name, view.get_dtype())
                assert list(view.get_shape()) == want["shape"], (file_name, name)
                if want["dtype"] in NUMPY_DTYPES:
                    data = np.ascontiguousarray(opened.get_tensor(name)).tobytes()
                    assert hashlib.sha256(data).hexdigest() == want["sha256"], (file_name, name)
                checked += 1
    print(f"safetensors read {checked} tensors in {len(expected)} cairn files: all match")


def check_hf_files(tool, folder):
    rng = np.random.default_rng(5)
    arrays = {
        "bool": rng.integers(0, 2, (3, 4)).astype(np.bool_),
        "u8": rng.integers(0, 255, (17,), dtype=np.uint8),
        "i8": rng.integers(-128, 127, (2, 3, 4), dtype=np.int8),
        "u16": rng.integers(0, 60000, (5,), dtype=np.uint16),
        "i16": rng.integers(-30000, 30000, (5, 1), dtype=np.int16),
        "u32": rng.integers(0, 2**32 - 1, (7,), dtype=np.uint32),
        "i32": rng.integers(-2**31, 2**31 - 1, (3, 3), dtype=np.int32),
        "u64": rng.integers(0, 2**63, (4,), dtype=np.uint64),
        "i64": rng.integers(-2**63, 2**63 - 1, (2, 2), dtype=np.int64),
        "f16": rng.standard_normal((8, 8)).astype(np.float16),
        "f32": rng.standard_normal((33,)).astype(np.float32),
        "f64": np.array([np.nan, np.inf, -0.0, 1e-310]),
        "scalar": np.array(3.5, dtype=np.float32),
        "zero_size": np.zeros((0, 4), dtype=np.float64),
        "layer.0.weight": rng.standard_normal((4, 2)).astype(np.float32),
    }
    names = {"numpy_all.safetensors": arrays,
             "numpy_one.safetensors": {"only": arrays["f32"]}}
    expected = {}
    for file_name, content in names.items():
        save_file(content, str(folder / file_name), metadata={"format": "np"})
        expected[file_name] = {
            name: {"dtype": None, "shape": list(a.shape),
                   "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()}
            for name, a in content.items()}
        with safe_open(str(folder / file_name), framework="numpy") as opened:
            for name in content:
                expected[file_name][name]["dtype"] = opened.get_slice(name).get_dtype()
    (folder / "expected.json").write_text(json.dumps(expected))
    subprocess.run([tool, "check", str(folder)], check=True)


def main():
    tool, work = sys.argv[1], pathlib.Path(sys.argv[2])
    for sub in ("cairn", "hf"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    check_cairn_files(tool, work / "cairn")
    check_hf_files(tool, work / "hf")


if __name__ == "__main__":
    main()
