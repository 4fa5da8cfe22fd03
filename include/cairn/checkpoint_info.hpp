// What is known of one committed checkpoint: where its files are, when and at which point of
// training it was saved, the metrics recorded with it, and how retention holds it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace cairn {

// Values measured at a save (validation loss, accuracy...), by name. Recorded in the manifest;
// keep_best_k ranks checkpoints by one of them.
using Metrics = std::map<std::string, double>;

struct CheckpointPaths {
  std::filesystem::path dir;
  std::filesystem::path model;
  std::filesystem::path training_state;
};

struct CheckpointInfo {
  std::string name;
  CheckpointPaths paths;
  int64_t seq = 0;  // save sequence: larger is newer
  int64_t epoch = 0;
  std::optional<int64_t> batches_this_epoch;  // set for saves made inside an epoch
  double save_time = 0;                        // seconds since the Unix epoch
  uint64_t size_bytes = 0;                     // of all its files
  bool is_best = false;    // its model is the current best/
  bool permanent = false;  // kept for good by keep_serialized_model_every_num_seconds
  Metrics metrics;         // given to save_checkpoint
  int shard_files = 0;     // sharded saves: how many ranks wrote pieces (0: not sharded)
};

}  // namespace cairn
