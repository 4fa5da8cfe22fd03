#include "state_conversion.hpp"

#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "cairn/error.hpp"
#include "cairn/inspect.hpp"
#include "python_text.hpp"

namespace py = pybind11;

// numpy is reached only through its Python API and the buffer protocol, never through the
// layout of its C structs, which numpy 2 changed (pybind11 2.10's numpy.h reads a numpy 2
// dtype's itemsize as 0): one build of the extension works with numpy 1 and numpy 2.

namespace cairn::python {
namespace {

// The numpy functions a conversion calls, looked up once per conversion.
struct Numpy {
  py::object ndarray = py::module_::import("numpy").attr("ndarray");
  py::object require = py::module_::import("numpy").attr("require");
  py::object frombuffer = py::module_::import("numpy").attr("frombuffer");
  py::object raw_tensor = py::module_::import("cairn._convert").attr("RawTensor");
  py::object in_place = py::module_::import("cairn._convert").attr("IN_PLACE");
};

// One tensor's bytes through the buffer protocol: the memory of an array restored from a file,
// writable when the tensor is a writable view (of a private copy-on-write mapping), read-only
// otherwise. Holds a copy of the Tensor, which shares the bytes (or the file mapping).
struct TensorBytes {
  Tensor tensor;
};

// numpy's name for the element type of a restored array: the carrier of the raw bytes for BF16
// (int16) and F8 (uint8), which numpy lacks.
const char* numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::BOOL: return "bool";
    case DType::U8: return "uint8";
    case DType::I8: return "int8";
    case DType::U16: return "uint16";
    case DType::I16: return "int16";
    case DType::U32: return "uint32";
    case DType::I32: return "int32";
    case DType::U64: return "uint64";
    case DType::I64: return "int64";
    case DType::F16: return "float16";
    case DType::BF16: return "int16";
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::F8_E4M3:
    case DType::F8_E5M2: return "uint8";
  }
  return "uint8";
}

// From numpy's dtype.kind and dtype.itemsize, as Python sees them.
std::optional<DType> dtype_of_numpy(const py::handle& dtype) {
  const std::string kind = dtype.attr("kind").cast<std::string>();
  const auto size = dtype.attr("itemsize").cast<int64_t>();
  if (kind == "b" && size == 1) return DType::BOOL;
  if (kind == "u") {
    if (size == 1) return DType::U8;
    if (size == 2) return DType::U16;
    if (size == 4) return DType::U32;
    if (size == 8) return DType::U64;
  }
  if (kind == "i") {
    if (size == 1) return DType::I8;
    if (size == 2) return DType::I16;
    if (size == 4) return DType::I32;
    if (size == 8) return DType::I64;
  }
  if (kind == "f") {
    if (size == 2) return DType::F16;
    if (size == 4) return DType::F32;
    if (size == 8) return DType::F64;
  }
  return std::nullopt;
}

std::string describe(const std::string& path) { return path.empty() ? "the top level" : "\"" + path + "\""; }

std::string child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// What convert() makes of arrays: views to save from, or targets to restore into.
enum class Use { Save, RestoreInto };

Tensor tensor_from_array(const py::handle& given, DType dtype, const std::string& path,
                         const Numpy& numpy, std::vector<py::object>& keep, Use use) {
  // A target is overwritten where it lies, so only an array whose own memory can take the bytes
  // is one (C order, native byte order, writable); any other is restored as a new array.
  if (use == Use::RestoreInto) {
    py::object flags = given.attr("flags");
    if (flags.attr("c_contiguous").cast<bool>() && flags.attr("writeable").cast<bool>() &&
        given.attr("dtype").attr("isnative").cast<bool>()) {
      py::object view = py::reinterpret_steal<py::object>(
          PyMemoryView_GetContiguous(given.ptr(), PyBUF_WRITE, 'C'));
      if (!view) throw py::error_already_set();
      Py_buffer& buffer = *PyMemoryView_GET_BUFFER(view.ptr());
      if (static_cast<size_t>(buffer.itemsize) == dtype_size(dtype)) {
        std::vector<int64_t> shape(buffer.shape, buffer.shape + buffer.ndim);
        keep.push_back(view);
        return Tensor::writable_view(dtype, std::move(shape), buffer.buf,
                                     static_cast<size_t>(buffer.len));
      }
    }
  }
  // Only native byte order and C order: anything else gets one contiguous copy.
  py::object array = numpy.require(given, py::none(), "C");
  if (!array.attr("dtype").attr("isnative").cast<bool>()) {
    array = array.attr("astype")(array.attr("dtype").attr("newbyteorder")("="));
  }
  // The memoryview holds the array's buffer export: its memory stays where it is while kept.
  py::object view = py::reinterpret_steal<py::object>(PyMemoryView_FromObject(array.ptr()));
  if (!view) throw py::error_already_set();
  const Py_buffer& buffer = *PyMemoryView_GET_BUFFER(view.ptr());
  if (!PyBuffer_IsContiguous(&buffer, 'C')) {
    throw InvalidArgumentError("cannot save " + describe(path) + ": its array is not contiguous");
  }
  if (static_cast<size_t>(buffer.itemsize) != dtype_size(dtype)) {
    throw InvalidArgumentError("cannot save " + describe(path) + ": a " +
                               std::string(dtype_name(dtype)) + " tensor needs " +
                               std::to_string(dtype_size(dtype)) + "-byte elements");
  }
  std::vector<int64_t> shape(buffer.shape, buffer.shape + buffer.ndim);
  keep.push_back(view);
  return Tensor::view(dtype, std::move(shape), buffer.buf, static_cast<size_t>(buffer.len));
}

State convert(py::handle value, const std::string& path, std::vector<py::object>& keep,
              const Numpy& numpy, Use use) {
  if (value.is_none()) return State();
  if (py::isinstance<py::bool_>(value)) return State(value.cast<bool>());
  if (py::isinstance<py::int_>(value)) {
    try {
      return State(value.cast<int64_t>());
    } catch (const py::cast_error&) {
      throw InvalidArgumentError("cannot save " + describe(path) + ": the integer " +
                                 py::str(value).cast<std::string>() + " does not fit in 64 bits");
    }
  }
  if (py::isinstance<py::float_>(value)) return State(value.cast<double>());
  if (py::isinstance<py::str>(value)) return State(value.cast<std::string>());
  if (py::isinstance<py::dict>(value)) {
    State map = State::map();
    for (auto [key, item] : value.cast<py::dict>()) {
      if (!py::isinstance<py::str>(key)) {
        throw InvalidArgumentError("cannot save " + describe(path) + ": a map key must be a str, not " +
                                   py::str(py::type::of(key)).cast<std::string>());
      }
      const std::string name = key.cast<std::string>();
      map[name] = convert(item, child(path, name), keep, numpy, use);
    }
    return map;
  }
  if (py::isinstance<py::list>(value)) {
    State list = State::list();
    size_t index = 0;
    for (py::handle item : value.cast<py::list>()) {
      list.push_back(convert(item, child(path, std::to_string(index++)), keep, numpy, use));
    }
    return list;
  }
  if (py::isinstance(value, numpy.ndarray)) {
    py::object numpy_dtype = value.attr("dtype");
    auto dtype = dtype_of_numpy(numpy_dtype);
    if (!dtype) {
      throw InvalidArgumentError("cannot save " + describe(path) + ": numpy dtype " +
                                 py::str(numpy_dtype).cast<std::string>() +
                                 " has no safetensors equivalent");
    }
    return State(tensor_from_array(value, *dtype, path, numpy, keep, use));
  }
  if (py::isinstance(value, numpy.raw_tensor)) {
    const std::string name = value.attr("dtype").cast<std::string>();
    auto dtype = dtype_from_name(name);
    if (!dtype) throw InvalidArgumentError("cannot save " + describe(path) + ": unknown dtype " + name);
    return State(tensor_from_array(value.attr("array"), *dtype, path, numpy, keep, use));
  }
  throw InvalidArgumentError("cannot save " + describe(path) + ": a " +
                             py::str(py::type::of(value).attr("__name__")).cast<std::string>() +
                             " is not a tensor, array, number, str, bool, None, list or dict");
}

py::object tensor_to_python(const Tensor& tensor, const Numpy& numpy, const InPlace* in_place) {
  if (in_place != nullptr && tensor.writable_data() != nullptr &&
      in_place->contains(tensor.writable_data())) {
    return numpy.in_place;  // the target holds the bytes; no array over its memory leaves here
  }
  py::tuple shape(tensor.shape().size());
  for (size_t i = 0; i < tensor.shape().size(); ++i) shape[i] = py::int_(tensor.shape()[i]);
  py::object bytes = py::cast(TensorBytes{tensor});
  py::object array = numpy.frombuffer(bytes, py::arg("dtype") = numpy_dtype(tensor.dtype()));
  // torch ignores numpy's read-only flag, and a write into read-only memory kills the process:
  // bytes that are not a writable view (a sharded restore's boxes) come as a copy of their own.
  if (tensor.writable_data() == nullptr) array = array.attr("copy")();
  return numpy.raw_tensor(std::string(dtype_name(tensor.dtype())), array.attr("reshape")(shape));
}

// Text from the file is checked on the way (file_text): a bad key is the file's fault.
py::object from(const State& state, const Numpy& numpy, const std::filesystem::path& source,
                const InPlace* in_place) {
  switch (state.kind()) {
    case State::Kind::Null: return py::none();
    case State::Kind::Bool: return py::bool_(state.as_bool());
    case State::Kind::Int: return py::int_(state.as_int());
    case State::Kind::Double: return py::float_(state.as_double());
    case State::Kind::String: return file_text(state.as_string(), source, "a string");
    case State::Kind::List: {
      py::list list;
      for (const State& element : state.elements()) list.append(from(element, numpy, source, in_place));
      return list;
    }
    case State::Kind::Map: {
      py::dict dict;
      for (const auto& [key, value] : state.items()) {
        dict[file_text(key, source, "a key")] = from(value, numpy, source, in_place);
      }
      return dict;
    }
    case State::Kind::Tensor: return tensor_to_python(state.as_tensor(), numpy, in_place);
  }
  return py::none();
}

}  // namespace

State to_state(py::handle value, std::vector<py::object>& keep) {
  return convert(value, "", keep, Numpy(), Use::Save);
}

State to_targets(py::handle value, std::vector<py::object>& keep) {
  return convert(value, "", keep, Numpy(), Use::RestoreInto);
}

void collect_targets(const State& targets, InPlace& memory) {
  if (targets.kind() == State::Kind::Tensor) {
    if (std::byte* data = targets.as_tensor().writable_data()) memory.insert(data);
  } else if (targets.kind() == State::Kind::Map) {
    for (const auto& entry : targets.items()) collect_targets(entry.second, memory);
  } else if (targets.kind() == State::Kind::List) {
    for (const State& element : targets.elements()) collect_targets(element, memory);
  }
}

py::object from_state(const State& state, const std::filesystem::path& source,
                      const InPlace* in_place) {
  return from(state, Numpy(), source, in_place);
}

void bind_state_conversion(py::module_& module) {
  py::class_<TensorBytes>(module, "_TensorBytes", py::buffer_protocol())
      .def_buffer([](TensorBytes& bytes) {
        std::byte* writable = bytes.tensor.writable_data();
        auto data = bytes.tensor.data();
        return py::buffer_info(const_cast<std::byte*>(data.data()), 1, "B", 1,
                               {static_cast<py::ssize_t>(data.size())}, {py::ssize_t{1}},
                               /*readonly=*/writable == nullptr);
      });
  module.def(
      "f8_values",
      [](const std::string& name) {
        auto dtype = dtype_from_name(name);
        if (dtype != DType::F8_E4M3 && dtype != DType::F8_E5M2) {
          throw InvalidArgumentError("f8_values takes F8_E4M3 or F8_E5M2, not " + name);
        }
        std::vector<std::byte> codes(256);
        for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::byte>(i);
        const Tensor all(*dtype, {256}, std::move(codes));
        std::vector<double> values(256);
        for (size_t i = 0; i < values.size(); ++i) values[i] = element_as_double(all, i);
        return values;
      },
      py::arg("name"), "The value of each of the 256 codes of an F8 dtype, by code.");
}

}  // namespace cairn::python
