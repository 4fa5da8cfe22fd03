// One checkpoint folder: writing it through the staging area, and opening it again with every
// check a reader owes its user (manifest checksum, file list, sizes, tensor checksums).
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "cairn/checkpointer.hpp"
#include "cairn/safetensors.hpp"
#include "checkpoint/manifest.hpp"
#include "storage/staging.hpp"

namespace cairn::checkpoint {

// Writes model.safetensors (and training_state.safetensors unless `training` is null), each
// fsynced, then MANIFEST.json, into `folder`. `manifest` gives seq, epoch, batches, save time
// and flags; its file list is filled in and returned.
Manifest write_checkpoint_files(storage::StagedFolder& folder, Manifest manifest,
                                const State& model, const State* training);

// A checkpoint folder whose manifest has been read and checked and whose files are open
// (headers read). Cheap: data is read by verify() or load().
class OpenedCheckpoint {
 public:
  // Throws CorruptDataError for a missing, altered or incomplete checkpoint (also a file that
  // vanished), IoError when the system refuses.
  static OpenedCheckpoint open(Storage& storage, const std::filesystem::path& dir,
                               bool require_training_state);

  const Manifest& manifest() const noexcept { return manifest_; }
  // Reads every tensor and checks its checksum.
  void verify() const;
  // The model state and (when present) training state; tensors view the files' mappings and are
  // verified as they are read.
  CheckpointState load() const;

 private:
  Manifest manifest_;
  std::vector<SafetensorsFile> files_;  // model first, then training state if any
};

// Opens the published checkpoint `folder` in `checkpoints_dir` and checks that its manifest
// belongs to the folder's name (seq, epoch, batch). Throws as OpenedCheckpoint::open.
OpenedCheckpoint open_published(Storage& storage, const std::filesystem::path& checkpoints_dir,
                                const std::string& folder);

}  // namespace cairn::checkpoint
