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

#include "cairn/checkpoint_info.hpp"
#include "cairn/retention.hpp"
#include "cairn/state.hpp"
#include "cairn/storage.hpp"

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
VerifyReport verify_path(const std::filesystem::path& path, const ProgressCallback& progress = {},
                         Storage& storage = local_storage());

// ---- listing a serialization directory ----

struct ForeignEntry {
  std::filesystem::path path;
  // "staging leftover", "not written by cairn", or for a folder of the ledger's that opens but
  // is not listed: "not yet recorded" (a writer died just after publishing it; the next writer
  // adopts it) or "retired" (retention deleted it while a reader held it; the next save removes it)
  std::string kind;
};

// A checkpoint folder the ledger records that cannot be opened (no manifest, a file cut short,
// a damaged header). `info` holds what its name and the ledger tell (seq, epoch, batch, save
// time, metrics, best, kept-for-good); its size is unknown (0).
struct DamagedCheckpoint {
  CheckpointInfo info;
  std::string problem;  // the first problem, the folder's path left out: "MANIFEST.json: ..."
};

struct DirectoryListing {
  std::vector<CheckpointInfo> checkpoints;  // the ledger's that open, oldest first
  std::vector<DamagedCheckpoint> damaged;   // the ledger's that do not open, oldest first
  std::optional<std::string> latest;        // name of the newest listed checkpoint
  std::vector<ForeignEntry> others;         // in checkpoints/ and staging/
  std::optional<long> writer_pid;           // a writer holds the directory
};

DirectoryListing list_directory(const std::filesystem::path& serialization_dir,
                                Storage& storage = local_storage());

// ---- numbers ----

// Element `index` of a tensor as a double (every dtype, F16, BF16 and F8 included).
double element_as_double(const Tensor& tensor, size_t index);

struct TensorStats {
  double min = 0, max = 0, mean = 0;  // over finite values
  uint64_t nan = 0, inf = 0, finite = 0;
};
TensorStats tensor_stats(const Tensor& tensor);

// ---- retention: explain and prune ----

// What the retention policies (the last writer's, or the overrides) decide for every checkpoint
// the directory's ledger records, oldest first; deletes nothing and takes no lock.
std::vector<RetentionDecision> explain_directory(const std::filesystem::path& serialization_dir,
                                                 const RetentionOverrides& overrides = {},
                                                 Storage& storage = local_storage());

// Applies the retention policies as explain_directory does and deletes what they say (nothing
// with `dry_run`). The newest checkpoint whose data verifies is kept whatever the options say
// (unless the number to keep is 0). Only checkpoints the ledger records are ever considered.
// Throws LockedError while a writer holds the directory.
std::vector<RetentionDecision> prune_directory(const std::filesystem::path& serialization_dir,
                                               const RetentionOverrides& overrides, bool dry_run,
                                               Storage& storage = local_storage());

}  // namespace cairn
