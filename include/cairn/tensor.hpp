// Tensor: a dtype, a shape and contiguous little-endian bytes.
//
// Ownership: a Tensor either owns its bytes (shared, immutable, so copying a Tensor is cheap and
// never copies data) or views memory it does not own. A view made by Tensor::view() borrows the
// caller's buffer, which must outlive every copy of the Tensor. Tensors read from a file may view
// a read-only mapping of that file; the mapping stays alive as long as any such Tensor does.
// Tensors are immutable after construction and safe to share between threads, with one
// exception the caller opts into: a writable view (Tensor::writable_view) names memory that
// restore_checkpoint_into and load_file_into may overwrite in place, and that its holder may
// write into. Files read through copy_on_write_local_storage() give such views of a private
// mapping: copies of the Tensor share those bytes, and no write reaches the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "cairn/dtype.hpp"

namespace cairn {

class Tensor {
 public:
  // An owning tensor. Throws InvalidArgumentError when bytes.size() does not match the shape.
  Tensor(DType dtype, std::vector<int64_t> shape, std::vector<std::byte> bytes);
  // A non-owning view of `nbytes` bytes at `data`; the caller keeps the memory alive.
  static Tensor view(DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes);
  // A view kept alive by `keepalive` (for example a file mapping).
  static Tensor view(DType dtype, std::vector<int64_t> shape, const void* data, size_t nbytes,
                     std::shared_ptr<const void> keepalive);
  // A view of the caller's writable memory: read like any view when saving, and overwritten in
  // place by restore_checkpoint_into / load_file_into (no new memory for its bytes).
  static Tensor writable_view(DType dtype, std::vector<int64_t> shape, void* data, size_t nbytes,
                              std::shared_ptr<const void> keepalive = nullptr);
  struct SharedBytes {
    std::shared_ptr<const std::vector<std::byte>> bytes;
  };
  Tensor(const SharedBytes& owned, DType dtype, std::vector<int64_t> shape);

  DType dtype() const noexcept { return dtype_; }
  const std::vector<int64_t>& shape() const noexcept { return shape_; }
  size_t nbytes() const noexcept { return nbytes_; }
  int64_t numel() const noexcept;
  std::span<const std::byte> data() const noexcept { return {data_, nbytes_}; }

  // True when the bytes are shared-owned by this tensor (or a mapping it keeps alive); false for
  // a borrowed view of a caller's buffer.
  bool owns_data() const noexcept { return keepalive_ != nullptr || nbytes_ == 0; }
  // The memory of a writable view; null for every other tensor.
  std::byte* writable_data() const noexcept { return writable_ ? const_cast<std::byte*>(data_) : nullptr; }
  // A copy that owns its own bytes.
  Tensor to_owned() const;

  // Same dtype, shape and bytes.
  friend bool operator==(const Tensor& a, const Tensor& b) noexcept;

 private:
  Tensor(DType dtype, std::vector<int64_t> shape, const std::byte* data, size_t nbytes,
         std::shared_ptr<const void> keepalive);

  DType dtype_;
  std::vector<int64_t> shape_;
  const std::byte* data_;
  size_t nbytes_;
  std::shared_ptr<const void> keepalive_;
  bool writable_ = false;
};

// Number of bytes a tensor of this dtype and shape holds. Throws InvalidArgumentError on a
// negative dimension or when the product overflows.
size_t tensor_nbytes(DType dtype, std::span<const int64_t> shape);

}  // namespace cairn
