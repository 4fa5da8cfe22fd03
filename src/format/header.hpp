// The safetensors header: rendering it for a writer, and parsing and validating it for a reader.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cairn/safetensors.hpp"
#include "cairn/storage.hpp"

namespace cairn::format {

// cairn's own "__metadata__" keys (docs/format.md). Every other key belongs to the user.
inline constexpr std::string_view kKeyPrefix = "cairn.";
inline constexpr const char* kFormatKey = "cairn.format";
inline constexpr const char* kTreeKey = "cairn.tree";
inline constexpr const char* kChecksumsKey = "cairn.xxh3";
inline constexpr const char* kHeaderDigestKey = "cairn.header_xxh3";

// Headers longer than this are refused before anything is allocated for them.
inline constexpr uint64_t kMaxHeaderLength = 100'000'000;
inline constexpr int kMaxHeaderJsonDepth = 8;

struct Header {
  std::vector<TensorInfo> tensors;  // in header order
  Metadata metadata;                // every "__metadata__" entry, cairn's included
  uint64_t length = 0;              // bytes of JSON and padding after the 8-byte length
  uint64_t data_offset() const { return 8 + length; }
};

// The 8-byte length and the JSON header (tensors in the given order), padded with spaces so the
// data section starts at a multiple of 8. Throws InvalidArgumentError for non-UTF-8 text.
std::string render_header(const std::vector<TensorInfo>& tensors, const Metadata& metadata);

// Appends `text` as a JSON string, as nlohmann::json(text).dump() would: printable ASCII as it
// is (the common case, and fast), anything else escaped by nlohmann, which also refuses invalid
// UTF-8 (nlohmann::json::type_error).
void append_json_string(std::string& out, const std::string& text);

// Reads and validates the header of `file` against its size: every check of docs/format.md
// ("What a reader refuses"). Does not verify checksums.
Header read_header(const ReadableFile& file, const std::filesystem::path& path);

// XXH3 of a canonical text of every tensor entry and every metadata entry except the digest
// itself, so any change to a parsed header value is detected.
uint64_t header_digest(const std::vector<TensorInfo>& tensors, const Metadata& metadata);

}  // namespace cairn::format
