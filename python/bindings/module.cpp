// cairn._core: the C++ library as seen from Python. The Python package (cairn/) builds the
// public API on it: conversion from and to torch and numpy, the AllenNLP-style Checkpointer.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "bindings.hpp"
#include "cairn/error.hpp"
#include "cairn/safetensors.hpp"
#include "python_logger.hpp"
#include "python_text.hpp"
#include "state_conversion.hpp"

namespace py = pybind11;

namespace cairn::python {
namespace {

// C++ errors become the classes of cairn/errors.py, which mirror them.
void translate_errors(std::exception_ptr error) {
  auto raise = [](const char* name, const std::exception& what) {
    py::object cls = py::module_::import("cairn.errors").attr(name);
    PyErr_SetObject(cls.ptr(), message_text(what.what()).ptr());
  };
  try {
    if (error) std::rethrow_exception(error);
  } catch (const CorruptDataError& e) {
    raise("CorruptDataError", e);
  } catch (const LockedError& e) {
    raise("LockedError", e);
  } catch (const IoError& e) {
    py::object cls = py::module_::import("cairn.errors").attr("IoError");
    PyErr_SetObject(cls.ptr(), py::make_tuple(e.error_code(), message_text(e.what())).ptr());
  } catch (const InvalidArgumentError& e) {
    raise("InvalidArgumentError", e);
  } catch (const RankError& e) {
    raise("RankError", e);
  } catch (const Error& e) {
    raise("Error", e);
  }
}

void save_file_binding(const py::object& state, const std::filesystem::path& path,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<py::object> keep;
  const State converted = to_state(state, keep);
  py::gil_scoped_release unlocked;
  save_file(path, converted, metadata);
}

py::object load_file_binding(const std::filesystem::path& path, bool copy) {
  State state;
  {
    py::gil_scoped_release unlocked;
    ReadOptions options;
    options.copy = copy;
    // Mapped copy-on-write: the arrays handed out are writable (see state_conversion.hpp).
    state = SafetensorsFile::open(path, options, copy_on_write_local_storage()).state();
  }
  return from_state(state, path);
}

}  // namespace
}  // namespace cairn::python

PYBIND11_MODULE(_core, module) {
  using namespace cairn::python;
  module.doc() = "cairn's C++ core; use the `cairn` package instead.";
  py::register_exception_translator(translate_errors);
  module.def("save_file", &save_file_binding, py::arg("state"), py::arg("path"),
             py::arg("metadata") = std::map<std::string, std::string>{},
             "Writes a normalized state to one safetensors file, atomically and durably.");
  module.def("load_file", &load_file_binding, py::arg("path"), py::arg("copy") = false,
             "Reads a safetensors file into a normalized state (tensors as RawTensor).");
  module.def("stop_logging_to_python", &stop_logging_to_python,
             "At exit, once no save is in flight: later log lines go to stderr, not to Python.");
  bind_checkpointer(module);
  bind_state_conversion(module);
  bind_tools(module);
  bind_checkpoint_folder(module);
}
