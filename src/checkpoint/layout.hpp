// Names of everything the Checkpointer keeps in a serialization directory (docs/format.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace cairn::checkpoint {

inline constexpr const char* kCheckpointsDir = "checkpoints";
inline constexpr const char* kBestLink = "best";                   // symlink to the current best
inline constexpr const char* kBestVersionsDir = "best-versions";  // what `best` points into
inline constexpr const char* kLedgerFile = "retention.json";
inline constexpr const char* kLedgerSegmentsDir = "retention-segments";  // the ledger's old entries
inline constexpr const char* kModelFile = "model.safetensors";
inline constexpr const char* kTrainingStateFile = "training_state.safetensors";
inline constexpr const char* kManifestFile = "MANIFEST.json";

struct CheckpointName {
  int64_t seq = 0;
  int64_t epoch = 0;
  std::optional<int64_t> batches_this_epoch;
};

// The largest sequence number a name holds: <seq> has exactly 10 digits, so names sort in save
// order as text, and every name the writer makes parses.
inline constexpr int64_t kMaxSeq = 9'999'999'999;

// A sequence number as names write it: exactly 10 digits, leading zeros (0..kMaxSeq).
std::string format_seq(int64_t seq);

// "ckpt-<seq, 10 digits>-epoch<E>-batch<B>" or "ckpt-<seq>-epoch<E>-end": sorts in save order
// and tells a human where in training it was made. Throws InvalidArgumentError when seq lies
// outside 0..kMaxSeq (or epoch or batch is negative): such a name would not parse.
std::string format_checkpoint_name(const CheckpointName& name);
// Inverse of format_checkpoint_name; nullopt for any other name (not one of ours).
std::optional<CheckpointName> parse_checkpoint_name(std::string_view text);

}  // namespace cairn::checkpoint
