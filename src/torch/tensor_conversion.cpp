// torch::Tensor <-> cairn::Tensor.
#include <cstring>
#include <optional>
#include <string>

#include "cairn/error.hpp"
#include "cairn/torch.hpp"

namespace cairn {
namespace {

// Safetensors dtypes LibTorch gained after 1.13 (float8 in 2.1, unsigned 16 to 64 bits in 2.3),
// looked up by name in c10::ScalarType so that the same source builds with or without them:
// templates, because only a requirement on a dependent type may fail without an error.
template <typename S = c10::ScalarType>
std::optional<DType> newer_cairn_dtype(S type) {
  if constexpr (requires { S::UInt16; }) {
    if (type == S::UInt16) return DType::U16;
  }
  if constexpr (requires { S::UInt32; }) {
    if (type == S::UInt32) return DType::U32;
  }
  if constexpr (requires { S::UInt64; }) {
    if (type == S::UInt64) return DType::U64;
  }
  if constexpr (requires { S::Float8_e4m3fn; }) {  // safetensors' F8_E4M3 is the "fn" variant
    if (type == S::Float8_e4m3fn) return DType::F8_E4M3;
  }
  if constexpr (requires { S::Float8_e5m2; }) {
    if (type == S::Float8_e5m2) return DType::F8_E5M2;
  }
  return std::nullopt;
}

template <typename S = c10::ScalarType>
std::optional<S> newer_torch_dtype(DType dtype) {
  if constexpr (requires { S::UInt16; }) {
    if (dtype == DType::U16) return S::UInt16;
  }
  if constexpr (requires { S::UInt32; }) {
    if (dtype == DType::U32) return S::UInt32;
  }
  if constexpr (requires { S::UInt64; }) {
    if (dtype == DType::U64) return S::UInt64;
  }
  if constexpr (requires { S::Float8_e4m3fn; }) {
    if (dtype == DType::F8_E4M3) return S::Float8_e4m3fn;
  }
  if constexpr (requires { S::Float8_e5m2; }) {
    if (dtype == DType::F8_E5M2) return S::Float8_e5m2;
  }
  return std::nullopt;
}

std::optional<DType> cairn_dtype(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Bool: return DType::BOOL;
    case c10::ScalarType::Byte: return DType::U8;
    case c10::ScalarType::Char: return DType::I8;
    case c10::ScalarType::Short: return DType::I16;
    case c10::ScalarType::Int: return DType::I32;
    case c10::ScalarType::Long: return DType::I64;
    case c10::ScalarType::Half: return DType::F16;
    case c10::ScalarType::BFloat16: return DType::BF16;
    case c10::ScalarType::Float: return DType::F32;
    case c10::ScalarType::Double: return DType::F64;
    default: return newer_cairn_dtype(type);
  }
}

c10::ScalarType torch_dtype(DType dtype) {
  switch (dtype) {
    case DType::BOOL: return c10::ScalarType::Bool;
    case DType::U8: return c10::ScalarType::Byte;
    case DType::I8: return c10::ScalarType::Char;
    case DType::I16: return c10::ScalarType::Short;
    case DType::I32: return c10::ScalarType::Int;
    case DType::I64: return c10::ScalarType::Long;
    case DType::F16: return c10::ScalarType::Half;
    case DType::BF16: return c10::ScalarType::BFloat16;
    case DType::F32: return c10::ScalarType::Float;
    case DType::F64: return c10::ScalarType::Double;
    default:
      if (auto type = newer_torch_dtype(dtype)) return *type;
      throw InvalidArgumentError("LibTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
                                 std::to_string(TORCH_VERSION_MINOR) + " has no dtype for " +
                                 std::string(dtype_name(dtype)));
  }
}

}  // namespace

Tensor from_torch(const torch::Tensor& tensor) {
  if (!tensor.defined()) throw InvalidArgumentError("undefined torch tensor");
  if (!tensor.device().is_cpu()) {
    throw InvalidArgumentError("torch tensor on " + tensor.device().str() +
                               ": move it to the CPU first");
  }
  if (tensor.layout() != c10::kStrided) throw InvalidArgumentError("sparse torch tensors are not supported");
  auto dtype = cairn_dtype(tensor.scalar_type());
  if (!dtype) {
    throw InvalidArgumentError(std::string("torch dtype ") + c10::toString(tensor.scalar_type()) +
                               " has no safetensors equivalent");
  }
  // detach(): saving must not keep autograd history alive; contiguous() copies only if needed.
  auto kept = std::make_shared<torch::Tensor>(tensor.detach().contiguous());
  void* data = kept->data_ptr();
  const size_t nbytes = static_cast<size_t>(kept->numel()) * kept->element_size();
  std::vector<int64_t> shape(kept->sizes().begin(), kept->sizes().end());
  // No copy was made: the view is the tensor's own memory, which an in-place restore may fill.
  if (data == tensor.data_ptr()) {
    return Tensor::writable_view(*dtype, std::move(shape), data, nbytes, std::move(kept));
  }
  return Tensor::view(*dtype, std::move(shape), data, nbytes, std::move(kept));
}

torch::Tensor to_torch(const Tensor& tensor) {
  torch::Tensor result = torch::empty(tensor.shape(), torch::TensorOptions().dtype(torch_dtype(tensor.dtype())));
  if (tensor.nbytes() > 0) std::memcpy(result.data_ptr(), tensor.data().data(), tensor.nbytes());
  return result;
}

torch::Tensor view_as_torch(const Tensor& tensor) {
  auto options = torch::TensorOptions().dtype(torch_dtype(tensor.dtype()));
  if (tensor.nbytes() == 0) return torch::empty(tensor.shape(), options);
  auto keep = std::make_shared<Tensor>(tensor);  // holds the bytes while torch uses them
  return torch::from_blob(const_cast<std::byte*>(tensor.data().data()), tensor.shape(),
                          [keep](void*) mutable { keep.reset(); }, options);
}

}  // namespace cairn
