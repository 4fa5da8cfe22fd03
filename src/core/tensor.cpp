#include "cairn/tensor.hpp"

#include <cstring>
#include <string>

#include "cairn/error.hpp"
#include "cairn/text.hpp"

namespace cairn {
size_t tensor_nbytes(DType dtype, std::span<const int64_t> shape) {
  size_t total = dtype_size(dtype);
  for (int64_t dim : shape) {
    if (dim < 0) throw InvalidArgumentError("negative dimension in shape " + format_shape(shape));
    if (__builtin_mul_overflow(total, static_cast<size_t>(dim), &total)) {
      throw InvalidArgumentError("tensor of shape " + format_shape(shape) + " is too large");
    }
  }
  return total;
}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape, const std::byte* data, size_t nbytes,
               std::shared_ptr<const void> keepalive)
    : dtype_(dtype),
      shape_(std::move(shape)),
      data_(data),
      nbytes_(nbytes),
      keepalive_(std::move(keepalive)) {
  const size_t expected = tensor_nbytes(dtype_, shape_);
  if (expected != nbytes_) {
    throw InvalidArgumentError("tensor of dtype " + std::string(dtype_name(dtype_)) + " and shape " +
                               format_shape(shape_) + " needs " + std::to_string(expected) +
                               " bytes, got " + std::to_string(nbytes_));
  }
  if (nbytes_ > 0 && data_ == nullptr) throw InvalidArgumentError("tensor data is null");
}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape, std::vector<std::byte> bytes)
    : Tensor(SharedBytes{std::make_shared<const std::vector<std::byte>>(std::move(bytes))}, dtype,
             std::move(shape)) {}

Tensor::Tensor(const SharedBytes& owned, DType dtype, std::vector<int64_t> shape)
    : Tensor(dtype, std::move(shape), owned.bytes->data(), owned.bytes->size(), owned.bytes) {}

Tensor Tensor::view(DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes) {
  return Tensor(dtype, std::move(shape), static_cast<const std::byte*>(data), nbytes, nullptr);
}

Tensor Tensor::view(DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes,
                    std::shared_ptr<const void> keepalive) {
  return Tensor(dtype, std::move(shape), static_cast<const std::byte*>(data), nbytes,
                std::move(keepalive));
}

Tensor Tensor::writable_view(DType dtype, std::vector<int64_t> shape, void* data, size_t nbytes,
                             std::shared_ptr<const void> keepalive) {
  Tensor tensor(dtype, std::move(shape), static_cast<const std::byte*>(data), nbytes,
                std::move(keepalive));
  tensor.writable_ = true;
  return tensor;
}

int64_t Tensor::numel() const noexcept {
  int64_t count = 1;
  for (int64_t dim : shape_) count *= dim;
  return count;
}

Tensor Tensor::to_owned() const {
  return Tensor(dtype_, shape_, std::vector<std::byte>(data_, data_ + nbytes_));
}

bool operator==(const Tensor& a, const Tensor& b) noexcept {
  return a.dtype_ == b.dtype_ && a.shape_ == b.shape_ && a.nbytes_ == b.nbytes_ &&
         (a.nbytes_ == 0 || std::memcmp(a.data_, b.data_, a.nbytes_) == 0);
}

}  // namespace cairn
