// One committed checkpoint folder, read-only: a `checkpoints/<name>` folder of a serialization
// directory, or a version of its best model (`best`, `best-versions/<name>`). What its manifest
// says (name, position in training, save time, metrics, the files with their sizes and roles),
// a verify that reports every problem, and a load verified as it reads. The layout it reads is
// docs/format.md's; nothing here writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/checkpoint_info.hpp"
#include "cairn/checkpoint_state.hpp"
#include "cairn/inspect.hpp"
#include "cairn/storage.hpp"

namespace cairn {

namespace checkpoint {
struct Manifest;
}

// What a file of a checkpoint folder holds.
enum class CheckpointFileRole {
  Model,          // model.safetensors: the model state
  TrainingState,  // training_state.safetensors: the rest of the training state
  Shard,          // shards-rank<r>.safetensors: rank r's pieces of the sharded tensors
};

struct CheckpointFile {
  std::string name;  // a plain file name inside the folder
  std::filesystem::path path;
  CheckpointFileRole role = CheckpointFileRole::Model;
  uint64_t size = 0;  // bytes, as the manifest lists it (find_state_files: as found on disk)
  uint64_t xxh3 = 0;  // of the whole file, as the manifest lists it (find_state_files: 0)
};

class CheckpointFolder {
 public:
  // Reads and checks the folder's MANIFEST.json (every byte, the checksum included). Does not
  // read the other files: verify() and load() do. Throws CorruptDataError naming the manifest
  // for a missing (incomplete checkpoint) or altered one, InvalidArgumentError when `folder` is
  // not a directory, IoError when the storage refuses (a missing `folder`: ENOENT). `storage`
  // must outlive the CheckpointFolder.
  static CheckpointFolder open(const std::filesystem::path& folder,
                               Storage& storage = local_storage());

  const std::filesystem::path& path() const noexcept { return path_; }
  std::string name() const { return path_.filename().string(); }  // "ckpt-0000000003-epoch1-end"
  int64_t seq() const noexcept;    // save sequence: larger is newer
  int64_t epoch() const noexcept;
  std::optional<int64_t> batches_this_epoch() const noexcept;  // set for saves inside an epoch
  double save_time() const noexcept;                            // seconds since the Unix epoch
  const Metrics& metrics() const noexcept;
  // A version of the best model: the model state (and its shards) alone, no training state.
  bool is_best_version() const noexcept;
  // In the manifest's order: the model file, the training state file (unless a best version),
  // then the shard files.
  const std::vector<CheckpointFile>& files() const noexcept { return files_; }
  uint64_t size_bytes() const noexcept;  // of all listed files
  int shard_files() const noexcept;      // ranks that wrote pieces (0: not sharded)

  // Every check of the folder: the name matches the manifest, no file is unlisted, each listed
  // file has its size and whole-file XXH3 (where not, which tensors differ), every header parses
  // and the shard pieces tile their tensors. Reports every problem rather than stopping at the
  // first; `progress(done, total)` is called as bytes are checked. Throws IoError only when the
  // storage refuses to list the folder.
  VerifyReport verify(const ProgressCallback& progress = {}) const;

  // The model state and (unless a best version: then empty) the training state, sharded tensors
  // whole, as restore_checkpoint gives them: tensors view the files' mappings and each is
  // verified as it is read, so a load is one pass over the bytes. Throws CorruptDataError naming
  // the file and the reason (a missing or cut-short file, a header or checksum that does not
  // match, a name that does not match the manifest), IoError when the storage refuses.
  CheckpointState load() const;

  // The state files a checkpoint folder holds, found by their names without reading the manifest
  // (model, training state, then shard files in name order; sizes as found, xxh3 0): what a tool
  // can still show of a folder whose manifest is damaged. Throws IoError when `folder` cannot be
  // listed.
  static std::vector<CheckpointFile> find_state_files(const std::filesystem::path& folder,
                                                      Storage& storage = local_storage());

 private:
  CheckpointFolder() = default;

  Storage* storage_ = nullptr;
  std::filesystem::path path_;
  std::shared_ptr<const checkpoint::Manifest> manifest_;
  std::vector<CheckpointFile> files_;
};

}  // namespace cairn
