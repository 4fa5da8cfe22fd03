#include "state_conversion.hpp"

#include <pybind11/numpy.h>

#include <memory>

#include "cairn/error.hpp"
#include "cairn/inspect.hpp"
#include "python_text.hpp"

namespace py = pybind11;

namespace cairn::python {
namespace {

// numpy's name for a dtype's element type: the type of a raw view for BF16 and F8.
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

std::optional<DType> dtype_of_numpy(const py::dtype& dtype) {
  const char kind = dtype.kind();
  const auto size = dtype.itemsize();
  if (kind == 'b' && size == 1) return DType::BOOL;
  if (kind == 'u') {
    if (size == 1) return DType::U8;
    if (size == 2) return DType::U16;
    if (size == 4) return DType::U32;
    if (size == 8) return DType::U64;
  }
  if (kind == 'i') {
    if (size == 1) return DType::I8;
    if (size == 2) return DType::I16;
    if (size == 4) return DType::I32;
    if (size == 8) return DType::I64;
  }
  if (kind == 'f') {
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

Tensor tensor_from_array(const py::array& given, DType dtype, const std::string& path,
                         std::vector<py::object>& keep) {
  // Only native byte order and C order: anything else gets one contiguous copy.
  py::array array =
      py::module_::import("numpy").attr("require")(given, py::none(), "C").cast<py::array>();
  if (!array.dtype().attr("isnative").cast<bool>()) {
    array = array.attr("astype")(array.dtype().attr("newbyteorder")("=")).cast<py::array>();
  }
  if (static_cast<size_t>(array.itemsize()) != dtype_size(dtype)) {
    throw InvalidArgumentError("cannot save " + describe(path) + ": a " +
                               std::string(dtype_name(dtype)) + " tensor needs " +
                               std::to_string(dtype_size(dtype)) + "-byte elements");
  }
  std::vector<int64_t> shape(array.shape(), array.shape() + array.ndim());
  keep.push_back(array);
  return Tensor::view(dtype, std::move(shape), array.data(), static_cast<size_t>(array.nbytes()));
}

State convert(py::handle value, const std::string& path, std::vector<py::object>& keep,
              const py::handle& raw_type) {
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
      map[name] = convert(item, child(path, name), keep, raw_type);
    }
    return map;
  }
  if (py::isinstance<py::list>(value)) {
    State list = State::list();
    size_t index = 0;
    for (py::handle item : value.cast<py::list>()) {
      list.push_back(convert(item, child(path, std::to_string(index++)), keep, raw_type));
    }
    return list;
  }
  if (py::isinstance<py::array>(value)) {
    py::array array = value.cast<py::array>();
    auto dtype = dtype_of_numpy(array.dtype());
    if (!dtype) {
      throw InvalidArgumentError("cannot save " + describe(path) + ": numpy dtype " +
                                 py::str(array.dtype()).cast<std::string>() +
                                 " has no safetensors equivalent");
    }
    return State(tensor_from_array(array, *dtype, path, keep));
  }
  if (py::isinstance(value, raw_type)) {
    const std::string name = value.attr("dtype").cast<std::string>();
    auto dtype = dtype_from_name(name);
    if (!dtype) throw InvalidArgumentError("cannot save " + describe(path) + ": unknown dtype " + name);
    return State(tensor_from_array(value.attr("array").cast<py::array>(), *dtype, path, keep));
  }
  throw InvalidArgumentError("cannot save " + describe(path) + ": a " +
                             py::str(py::type::of(value).attr("__name__")).cast<std::string>() +
                             " is not a tensor, array, number, str, bool, None, list or dict");
}

py::object tensor_to_python(const Tensor& tensor, const py::handle& raw_type) {
  std::vector<py::ssize_t> shape(tensor.shape().begin(), tensor.shape().end());
  py::array array;
  if (tensor.dtype() == DType::F8_E4M3 || tensor.dtype() == DType::F8_E5M2) {
    py::array_t<float> values(shape);
    float* out = values.mutable_data();
    for (size_t i = 0; i < static_cast<size_t>(values.size()); ++i) {
      out[i] = static_cast<float>(element_as_double(tensor, i));
    }
    array = values;
  } else {
    // The capsule owns a copy of the Tensor, which shares the bytes (or the file mapping).
    auto* owner = new Tensor(tensor);
    py::capsule base(owner, [](void* pointer) { delete static_cast<Tensor*>(pointer); });
    array = py::array(py::dtype(numpy_dtype(tensor.dtype())), shape,
                      static_cast<const void*>(owner->data().data()), base);
    py::detail::array_proxy(array.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  }
  return raw_type(std::string(dtype_name(tensor.dtype())), array);
}

// Text from the file is checked on the way (file_text): a bad key is the file's fault.
py::object from(const State& state, const py::handle& raw_type,
                const std::filesystem::path& source) {
  switch (state.kind()) {
    case State::Kind::Null: return py::none();
    case State::Kind::Bool: return py::bool_(state.as_bool());
    case State::Kind::Int: return py::int_(state.as_int());
    case State::Kind::Double: return py::float_(state.as_double());
    case State::Kind::String: return file_text(state.as_string(), source, "a string");
    case State::Kind::List: {
      py::list list;
      for (const State& element : state.elements()) list.append(from(element, raw_type, source));
      return list;
    }
    case State::Kind::Map: {
      py::dict dict;
      for (const auto& [key, value] : state.items()) {
        dict[file_text(key, source, "a key")] = from(value, raw_type, source);
      }
      return dict;
    }
    case State::Kind::Tensor: return tensor_to_python(state.as_tensor(), raw_type);
  }
  return py::none();
}

py::object raw_tensor_type() { return py::module_::import("cairn._convert").attr("RawTensor"); }

}  // namespace

State to_state(py::handle value, std::vector<py::object>& keep) {
  return convert(value, "", keep, raw_tensor_type());
}

py::object from_state(const State& state, const std::filesystem::path& source) {
  return from(state, raw_tensor_type(), source);
}

}  // namespace cairn::python
