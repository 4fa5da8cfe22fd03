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

#include <filesystem>
#include <string>
#include <vector>

#include "cairn/state.hpp"

namespace cairn::python {

// Tensors view the arrays' memory (no copy); the arrays are appended to `keep`, which must
// outlive the State. Throws InvalidArgumentError naming the path of a value it cannot save.
State to_state(pybind11::handle value, std::vector<pybind11::object>& keep);

// Maps become dicts, lists lists, scalars Python scalars; every tensor becomes a RawTensor whose
// array views the tensor's memory read-only (kept alive by the array); BF16 and F8, which numpy
// lacks, come as their raw bytes (int16 and uint8 arrays). Keys and strings that are not valid
// UTF-8 raise CorruptDataError naming `source`, the file or directory the state was read from.
pybind11::object from_state(const State& state, const std::filesystem::path& source);

}  // namespace cairn::python
