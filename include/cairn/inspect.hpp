// Looking at what is on disk: verifying files, checkpoints and whole serialization directories;
// listing a directory, its leftovers and what cairn does not own; numbers of a tensor; pruning.
// The command-line tool `cairn` is built on these.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cairn/checkpointer.hpp"
#include "cairn/state.hpp"

namespace cairn {

// ---- verify ----

struct Problem {
  std::filesystem::path file;
  std::string tensor;  // empty when the problem is not about one tensor
  std::string what;
};

struct VerifyReport {
  std::vector<Problem> problems;
  uint64_t files = 0;    // files checked
  uint64_t tensors = 0;  // tensors checked
  uint64_t bytes = 0;    // bytes read and hashed
  bool ok() const noexcept { return problems.empty(); }
};

// Called as bytes are checked: (done, total). May be null.
using ProgressCallback = std::function<void(uint64_t done, uint64_t total)>;

// Checks everything at `path`: a single .safetensors file (header, digest, every tensor's
// checksum), a checkpoint folder (its manifest byte for byte, each listed file's size and whole-
// file XXH3, then each file as above), or a serialization directory (every checkpoint, best/,
// the ledger). Reports every problem found rather than stopping at the first. Throws IoError
// when `path` cannot be read at all.
VerifyReport verify_path(const std::filesystem::path& path, const ProgressCallback& progress = {});

// ---- listing a serialization directory ----

struct ForeignEntry {
  std::filesystem::path path;
  std::string kind;  // "staging leftover", "not written by cairn"
};

struct DirectoryListing {
  std::vector<CheckpointInfo> checkpoints;  // the ledger's, oldest first
  std::optional<std::string> latest;        // name of the newest listed checkpoint
  std::vector<ForeignEntry> others;         // in checkpoints/ and staging/
  std::optional<long> writer_pid;           // a writer holds the directory
};

DirectoryListing list_directory(const std::filesystem::path& serialization_dir);

// ---- numbers ----

// Element `index` of a tensor as a double (every dtype, F16, BF16 and F8 included).
double element_as_double(const Tensor& tensor, size_t index);

struct TensorStats {
  double min = 0, max = 0, mean = 0;  // over finite values
  uint64_t nan = 0, inf = 0, finite = 0;
};
TensorStats tensor_stats(const Tensor& tensor);

// ---- prune ----

struct PruneDecision {
  std::string name;
  bool keep = true;
  std::string reason;
};

// Applies the retention rule to the directory's ledger, with the last writer's options or the
// overrides given, and deletes what it says (nothing with `dry_run`). Only checkpoints the
// ledger records are ever considered. Throws LockedError while a writer holds the directory.
std::vector<PruneDecision> prune_directory(const std::filesystem::path& serialization_dir,
                                           std::optional<int> keep_last_override,
                                           std::optional<double> keep_every_override,
                                           bool dry_run);

}  // namespace cairn
