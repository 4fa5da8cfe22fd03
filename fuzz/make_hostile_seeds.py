"""Writes crafted hostile safetensors files into fuzz/corpus/ as fuzzing seeds.

Each one must be refused by cairn's reader with a clear error (tests/test_safetensors_hostile.cpp
checks the same cases one by one); here they give the fuzzer bad inputs to mutate from.
Run: python3 fuzz/make_hostile_seeds.py
"""
import json
import pathlib
import struct

CORPUS = pathlib.Path(__file__).parent / "corpus"


def file_with(header, data=b"", length=None):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


SEEDS = {
    "huge_header_length": file_with({}, length=1 << 62),
    "header_past_end": file_with({}, length=4096),
    "not_an_object": file_with(b"[1, 2, 3]"),
    "offsets_past_end": file_with({"t": entry("F32", [4], 0, 16)}, b"\0" * 8),
    "overlap": file_with({"a": entry("U8", [4], 0, 4), "b": entry("U8", [4], 2, 6)}, b"\0" * 6),
    "gap": file_with({"a": entry("U8", [4], 0, 4), "b": entry("U8", [4], 6, 10)}, b"\0" * 10),
    "negative_offset": file_with({"t": entry("U8", [4], -4, 0)}, b"\0" * 4),
    "shape_overflow": file_with({"t": entry("F64", [2**32, 2**32, 16], 0, 8)}, b"\0" * 8),
    "billion_elements": file_with({"t": entry("F32", [10**9], 0, 4)}, b"\0" * 4),
    "deep_nesting": file_with(b'{"__metadata__": {"k": ' + b"[" * 5000 + b"]" * 5000 + b"}}"),
    "invalid_utf8": file_with(b'{"\xff\xfe": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}}'),
    "duplicate_names": file_with(
        b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},'
        b' "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}', b"\0\0"),
    "unknown_dtype": file_with({"t": entry("F36", [1], 0, 4)}, b"\0" * 4),
    "trailing_bytes": file_with({"t": entry("U8", [1], 0, 1)}, b"\0" * 9),
    "tree_points_at_ghost": file_with({"__metadata__": {
        "cairn.format": "1", "cairn.tree": '{"tensor": "ghost"}', "cairn.xxh3": "{}",
        "cairn.header_xxh3": "0000000000000000"}}),
    "tree_deep": file_with({"__metadata__": {
        "cairn.format": "1", "cairn.tree": "[" * 3000 + "]" * 3000, "cairn.xxh3": "{}",
        "cairn.header_xxh3": "0000000000000000"}}),
    "names_are_not_paths": file_with({"../../etc/passwd": entry("U8", [1], 0, 1),
                                      "a\u0000b": entry("U8", [1], 1, 2)}, b"\1\2"),
}

if __name__ == "__main__":
    for name, content in SEEDS.items():
        (CORPUS / f"hostile_{name}.safetensors").write_bytes(content)
    print(f"wrote {len(SEEDS)} seeds into {CORPUS}")
