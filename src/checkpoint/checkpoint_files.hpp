// One checkpoint folder: writing it through the staging area, and opening it again with every
// check a reader owes its user (manifest checksum, file list, sizes, tensor checksums).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "cairn/checkpoint_state.hpp"
#include "cairn/safetensors.hpp"
#include "checkpoint/manifest.hpp"
#include "storage/staging.hpp"

namespace cairn::checkpoint {

// Writes model.safetensors and (unless `training` is null) training_state.safetensors, each
// fsynced, into `dir` through `storage`; returns their manifest entries.
std::vector<ManifestFile> write_state_files(Storage& storage, const std::filesystem::path& dir,
                                            const State& model, const State* training);

// Writes MANIFEST.json into `dir`, fsynced: the last file of a checkpoint folder.
void write_manifest_file(Storage& storage, const std::filesystem::path& dir,
                         const Manifest& manifest);

// The text of the manifest file `path`, at most kMaxManifestBytes. Throws CorruptDataError for
// a missing (incomplete checkpoint) or too large one, IoError when the system refuses.
std::string read_manifest_text(Storage& storage, const std::filesystem::path& path);

// A checkpoint folder whose manifest has been read and checked and whose files are open
// (headers read). Cheap: data is read by verify() or load().
class OpenedCheckpoint {
 public:
  // Throws CorruptDataError for a missing, altered or incomplete checkpoint (also a file that
  // vanished), IoError when the system refuses.
  static OpenedCheckpoint open(Storage& storage, const std::filesystem::path& dir,
                               bool require_training_state);

  const Manifest& manifest() const noexcept { return manifest_; }
  // Reads every tensor and checks its checksum; with `parts` > 1, only the files whose position
  // in the manifest is `part` modulo `parts` (ranks share the work).
  void verify(size_t part = 0, size_t parts = 1) const;
  // The model state and (when present) training state; tensors view the files' mappings and are
  // verified as they are read. Sharded tensors come whole, or as the boxes `slices` names
  // (InvalidArgumentError for a box outside its tensor or a path that is not sharded here).
  // Tensors `into` holds as writable views are read into them (SafetensorsFile::state_into).
  CheckpointState load(const SliceRequest& slices = {}, const CheckpointState& into = {}) const;

 private:
  std::map<std::string, const SafetensorsFile*> files_by_name() const;

  std::filesystem::path dir_;
  Manifest manifest_;
  std::vector<SafetensorsFile> files_;  // in the manifest's order: model, training state, shards
  bool has_training_state_ = false;
};

// Opens the published checkpoint `folder` in `checkpoints_dir` and checks that its manifest
// belongs to the folder's name (seq, epoch, batch). Throws as OpenedCheckpoint::open.
OpenedCheckpoint open_published(Storage& storage, const std::filesystem::path& checkpoints_dir,
                                const std::string& folder);

}  // namespace cairn::checkpoint
