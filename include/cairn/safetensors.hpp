// One State in one safetensors file.
//
// The file is a valid safetensors file that any safetensors reader opens: an 8-byte little-endian
// header length, a JSON header padded with spaces to a multiple of 8, then the tensors' bytes with
// no gaps, widest dtype first then by name, so each tensor is naturally aligned. Tensor names are
// the tree paths joined with '.'. The tree structure, the per-tensor XXH3 checksums and a digest
// of the header ride in the string-only "__metadata__" map under keys starting with "cairn.".
// docs/format.md describes the layout fully.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/state.hpp"
#include "cairn/storage.hpp"

namespace cairn {

using Metadata = std::map<std::string, std::string>;

// Writes `state` to `path` atomically and durably: a temporary file in the same directory is
// written, fsynced and renamed over `path`, then the directory is fsynced. On any failure the
// temporary file is removed and `path` is untouched. Keys of `metadata` must not start with
// "cairn.". Output is deterministic: the same State and metadata give the same bytes.
void save_file(const std::filesystem::path& path, const State& state,
               const Metadata& metadata = {}, Storage& storage = local_storage());

// Writes the file's bytes to an already created file (no rename, no fsync of a directory); used
// by the checkpoint writer, which publishes whole folders. Returns the number of bytes written.
uint64_t write_safetensors(WritableFile& out, const State& state, const Metadata& metadata,
                           const std::filesystem::path& path_for_errors);

struct ReadOptions {
  // Verify each tensor's XXH3 checksum (and the header digest) when it is read.
  bool verify_checksums = true;
  // Copy tensors into memory they own instead of viewing the storage's mapping of the file:
  // read-only views through local_storage(), writable views of a private copy-on-write mapping
  // through copy_on_write_local_storage().
  bool copy = false;
};

// Reads a whole file: cairn's tree, or, for a file another tool wrote, a map name -> Tensor in
// header order. Throws CorruptDataError (bad data) or IoError (the system refused).
State load_file(const std::filesystem::path& path, const ReadOptions& options = {},
                Storage& storage = local_storage());

// As load_file, reading in place into the writable views of `into` (SafetensorsFile::state_into).
State load_file_into(const std::filesystem::path& path, const State& into,
                     const ReadOptions& options = {}, Storage& storage = local_storage());

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
  std::optional<uint64_t> xxh3;  // cairn files only
};

// An open safetensors file. Opening reads and validates only the header, so its cost does not
// grow with the size of the data. Tensors are read (and verified) when asked for. Thread-safe
// for concurrent reads.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path, const ReadOptions& options = {},
                              Storage& storage = local_storage());

  const std::filesystem::path& path() const noexcept;
  // The user's metadata: every "__metadata__" entry except cairn's own keys.
  const Metadata& metadata() const noexcept;
  // True when the file holds cairn's tree (written by cairn).
  bool has_tree() const noexcept;
  // Every tensor in header order.
  const std::vector<TensorInfo>& tensors() const noexcept;
  uint64_t file_size() const noexcept;

  // One tensor by its name; verified when checksums are on. Throws InvalidArgumentError for an
  // unknown name, CorruptDataError on a checksum mismatch.
  Tensor tensor(std::string_view name) const;
  // One tensor's bytes as they are in the file, neither read nor verified: a view of the mapping
  // (a copy when the file is not mapped). For callers that read part of it and verify that part
  // themselves (sharded restores).
  Tensor tensor_unverified(std::string_view name) const;
  // Reads tensor `name` into `destination` (exactly its size), verifying it when checksums are on,
  // in chunks small enough to hash while they are still in the CPU cache. On an error the
  // destination may hold part of the tensor. Throws as tensor(), and InvalidArgumentError for a
  // destination of another size.
  void read_into(std::string_view name, std::span<std::byte> destination) const;
  // The whole State (see load_file).
  State state() const;
  // As state(), but every tensor that `into` holds as a writable view (Tensor::writable_view) at
  // the same path, with the same dtype and shape, is read into that memory and returned as that
  // view; the others are read as state() reads them.
  State state_into(const State& into) const;
  // Checks every tensor's checksum; throws CorruptDataError naming the first bad tensor.
  void verify() const;

  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  ~SafetensorsFile();

 private:
  struct Impl;
  explicit SafetensorsFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
