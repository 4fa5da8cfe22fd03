// MANIFEST.json: what a committed checkpoint holds, with a checksum of every file and of the
// manifest itself, so a change to any byte of a checkpoint is detectable.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cairn::checkpoint {

struct ManifestFile {
  std::string name;  // a plain file name inside the checkpoint folder
  uint64_t size = 0;
  uint64_t xxh3 = 0;  // of the whole file
};

// One rank's piece of a sharded tensor: tensor `tensor` of file `file` holds the box of the
// global tensor starting at `offsets` with extent `shape`.
struct ShardPiece {
  std::string file;
  std::string tensor;
  std::vector<int64_t> offsets;
  std::vector<int64_t> shape;
};

// A sharded tensor: where it goes in a restored state, its dtype and global shape, and the
// pieces that tile it (checkpoint/shards.hpp checks that they do).
struct ShardedTensorLayout {
  std::vector<std::string> path;
  std::string dtype;
  std::vector<int64_t> global_shape;
  std::vector<ShardPiece> pieces;
};

struct Manifest {
  int64_t seq = 0;
  int64_t epoch = 0;
  std::optional<int64_t> batches_this_epoch;
  double save_time = 0;  // seconds since the Unix epoch
  bool is_best = false;
  std::map<std::string, double> metrics;
  std::vector<ManifestFile> files;
  std::vector<ShardedTensorLayout> sharded;  // "sharded", left out when empty
};

// The file's exact text: JSON, two-space indent, ending with "manifest_xxh3".
std::string render_manifest(const Manifest& manifest);
// Parses and checks a manifest: valid JSON of the expected shape, file names without '/' or
// "..", and text identical to what render_manifest gives for it (so any altered byte, the
// checksum included, is refused). Throws CorruptDataError naming `path`.
Manifest parse_manifest(std::string_view text, const std::filesystem::path& path);
// parse_manifest without the final byte-for-byte comparison: the values of a manifest whose
// checksum may not match. For the fuzzer, which can then reach the checks behind it.
Manifest parse_manifest_values(std::string_view text, const std::filesystem::path& path);

// Manifests larger than this are refused unread.
inline constexpr uint64_t kMaxManifestBytes = 1 << 20;

}  // namespace cairn::checkpoint
