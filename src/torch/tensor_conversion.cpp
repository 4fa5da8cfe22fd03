// torch::Tensor <-> cairn::Tensor.
#include <cstring>
#include <optional>

#include "cairn/error.hpp"
#include "cairn/torch.hpp"

namespace cairn {
namespace {

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
    default: return std::nullopt;
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
      throw InvalidArgumentError("torch 1.13 has no dtype for " + std::string(dtype_name(dtype)));
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
