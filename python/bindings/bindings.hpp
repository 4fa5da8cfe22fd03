// The parts of the cairn._core module, each defined in its own file.
#pragma once

#include <pybind11/pybind11.h>

#include "cairn/inspect.hpp"

namespace cairn::python {

// _core.Checkpointer (checkpointer_binding.cpp).
void bind_checkpointer(pybind11::module_& module);

// A CheckpointInfo as the dict cairn.CheckpointInfo._from_core reads (checkpointer_binding.cpp).
pybind11::dict info_to_dict(const CheckpointInfo& info);

// _core.verify_path, list_directory, explain_directory, prune_directory (tools_binding.cpp).
void bind_tools(pybind11::module_& module);

// A Python progress(done, total) (or None) as a ProgressCallback that takes the GIL for each
// call; `progress` must outlive it (tools_binding.cpp).
ProgressCallback progress_of(const pybind11::object& progress);

// A VerifyReport as ([(file, tensor, what)], files, tensors, bytes), what cairn/tools.py makes
// into a VerifyReport (tools_binding.cpp).
pybind11::tuple report_tuple(const VerifyReport& report);

// _core.CheckpointFolder (checkpoint_folder_binding.cpp).
void bind_checkpoint_folder(pybind11::module_& module);

// _core._TensorBytes, the buffer of a restored tensor, and _core.f8_values
// (state_conversion.cpp).
void bind_state_conversion(pybind11::module_& module);

}  // namespace cairn::python
