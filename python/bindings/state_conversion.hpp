// Python values <-> cairn::State, for the `cairn._core` extension.
//
// Python side (cairn/_convert.py) first turns torch tensors into numpy arrays and marks maps
// with integer keys; what reaches C++ is: None, bool, int, float, str, dict with str keys,
// list, numpy array (a numpy dtype safetensors has) or cairn._convert.RawTensor (a safetensors
// dtype numpy lacks, such as BF16, with its raw bytes in an array of the same element size).
// numpy is used through its Python API and the buffer protocol only, so that one build works
// with numpy 1 and 2 alike.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <unordered_set>
#include <vector>

#include "cairn/state.hpp"

namespace cairn::python {

// Tensors view the arrays' memory (no copy); the arrays are appended to `keep`, which must
// outlive the State. Throws InvalidArgumentError naming the path of a value it cannot save.
State to_state(pybind11::handle value, std::vector<pybind11::object>& keep);

// The same tree as targets of an in-place restore: each array that is C-contiguous, writable and
// of native byte order becomes a writable view of its memory (Tensor::writable_view), which
// Checkpointer::restore_checkpoint_into overwrites; other arrays are plain views.
State to_targets(pybind11::handle value, std::vector<pybind11::object>& keep);

// The memory of the writable views in a tree of targets: a restored tensor in that memory was
// restored in place.
using InPlace = std::unordered_set<const std::byte*>;
void collect_targets(const State& targets, InPlace& memory);

// Maps become dicts, lists lists, scalars Python scalars; every tensor becomes a RawTensor whose
// array is writable: it views the tensor's memory (kept alive by the array) when the tensor is a
// writable view, as those read through copy_on_write_local_storage() are (a write stays in this
// process's private copy of the mapping), and is a copy of its bytes otherwise, since torch
// ignores numpy's read-only flag and a write into read-only memory would crash the process. BF16
// and F8, which numpy lacks, come as their raw bytes (int16 and uint8 arrays). Keys and strings
// that are not valid UTF-8 raise CorruptDataError naming `source`, the file or directory the
// state was read from.
// With `in_place`, a tensor restored into one of those targets comes as cairn._convert.IN_PLACE
// (its target already holds the bytes).
pybind11::object from_state(const State& state, const std::filesystem::path& source,
                            const InPlace* in_place = nullptr);

}  // namespace cairn::python
