#include "python_text.hpp"

#include <string>

#include "cairn/error.hpp"

namespace py = pybind11;

namespace cairn::python {
namespace {

PyObject* decode_utf8(std::string_view text, const char* errors) {
  return PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), errors);
}

}  // namespace

py::str message_text(std::string_view message) {
  PyObject* decoded = decode_utf8(message, "backslashreplace");
  if (decoded == nullptr) throw py::error_already_set();  // out of memory
  return py::reinterpret_steal<py::str>(decoded);
}

py::str file_text(std::string_view text, const std::filesystem::path& source,
                  std::string_view what) {
  PyObject* decoded = decode_utf8(text, "strict");
  if (decoded != nullptr) return py::reinterpret_steal<py::str>(decoded);
  if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) throw py::error_already_set();
  PyErr_Clear();
  throw CorruptDataError(source, std::string(what) + " is not valid UTF-8: \"" +
                                     message_text(text).cast<std::string>() + "\"");
}

py::str path_text(const std::filesystem::path& path) {
  const std::string& text = path.native();
  PyObject* decoded =
      PyUnicode_DecodeFSDefaultAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
  if (decoded == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(decoded);
}

}  // namespace cairn::python
