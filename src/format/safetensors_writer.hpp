// The safetensors writer with the checksum of the whole file, for the checkpoint manifest.
#pragma once

#include <cstdint>
#include <filesystem>

#include "cairn/safetensors.hpp"
#include "cairn/storage.hpp"

namespace cairn::format {

struct WrittenFile {
  uint64_t size = 0;
  uint64_t xxh3 = 0;  // of every byte written, computed from the bytes as they were written
};

// write_safetensors(), also returning the file's checksum (docs/format.md, "hash what you
// write"): a tensor that changes while it is saved fails the write with InvalidArgumentError.
WrittenFile write_safetensors_hashed(WritableFile& out, const State& state,
                                     const Metadata& metadata,
                                     const std::filesystem::path& path_for_errors);

}  // namespace cairn::format
