// The Checkpointer: decides when to save, writes each checkpoint crash-safely, keeps what the
// retention policies say, and restores the newest valid checkpoint or the best model.
//
// It follows AllenNLP 2.4's Checkpointer (same options and methods) and fixes its faults:
// atomic checkpoints, retention that survives restarts, only cairn's own files ever deleted,
// latest by save sequence, restore that falls back past a corrupt checkpoint, exact mid-epoch
// resume, immutable checkpoints, a best model independent of retention, one writer per
// directory. docs/format.md describes the directory; docs/design.md sections 3 and 4 the contract.
//
// Thread safety: one Checkpointer is used from one thread at a time (calls are not
// synchronized). Any number of readers (other Checkpointers that only restore, other processes)
// may read the directory while a writer saves.
//
// Several ranks (options.coordinator, docs/sharding.md): every rank constructs a Checkpointer on
// the same directory and makes the same calls in the same order; saves, restores, find_latest
// and maybe_save_checkpoint are then collective. Rank 0 holds the lock and decides names,
// retention, best and which checkpoint to restore; each rank writes and reads its own shards.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/checkpoint_info.hpp"
#include "cairn/checkpoint_state.hpp"
#include "cairn/clock.hpp"
#include "cairn/coordinator.hpp"
#include "cairn/logger.hpp"
#include "cairn/retention.hpp"
#include "cairn/sharding.hpp"
#include "cairn/state.hpp"
#include "cairn/storage.hpp"

namespace cairn {

struct CheckpointerOptions {
  std::filesystem::path serialization_dir;
  // Keep one checkpoint for good every this many seconds; none: off.
  std::optional<double> keep_serialized_model_every_num_seconds;
  // Keep this many recent checkpoints; none or negative: keep all.
  std::optional<int> num_serialized_models_to_keep = 2;
  // Save inside an epoch every this many seconds (maybe_save_checkpoint); none: off.
  std::optional<double> model_save_interval;

  // Retention policies beyond AllenNLP's (docs/retention.md). A checkpoint is kept if any policy
  // keeps it, and the newest checkpoint is always kept unless num_serialized_models_to_keep is 0.
  // Keep the k checkpoints with the best value of `metric` (given to save_checkpoint); none or
  // 0: off. Checkpoints without a (finite) value never count as best; ties keep the newer.
  std::optional<int> keep_best_k;
  std::string metric;
  MetricMode mode = MetricMode::Min;
  // Keep end-of-epoch checkpoints whose epoch is a multiple of n; none or 0: off.
  std::optional<int> keep_every_n_epochs;

  // Asynchronous saves (docs/performance.md): a save call returns once the state is copied into
  // staging memory; the files are written and committed on a background thread while training
  // goes on. One save is in flight at a time: the next save waits for it. wait() blocks until it
  // is durable; a background failure is thrown by the next call (the destructor logs it).
  bool async_save = false;
  // Most bytes of staging memory the copy may take (it is reused from save to save); a state
  // larger than this is saved synchronously, with a warning. none: no bound.
  std::optional<uint64_t> async_staging_bytes;

  // Seams. Null means: the system clock, stderr, the local filesystem, a single process.
  std::shared_ptr<Clock> clock;
  Logger logger;
  Storage* storage = nullptr;
  Coordinator* coordinator = nullptr;
};

class Checkpointer {
 public:
  explicit Checkpointer(CheckpointerOptions options);
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;
  // Never throws: waits for an asynchronous save in flight (it commits whole or not at all) and
  // logs its failure; releases the directory lock.
  virtual ~Checkpointer();

  // Builds a checkpointer from AllenNLP-style JSON: {"type": "default", "num_serialized_models_to_keep": 3, ...}.
  // "type" may be left out ("default"). An unknown key or a value of the wrong type throws
  // InvalidArgumentError naming it.
  static std::unique_ptr<Checkpointer> from_config(std::string_view json,
                                                   const std::filesystem::path& serialization_dir);
  // Makes `from_config` build `factory(config, serialization_dir)` for {"type": name}. The
  // factory receives the parsed JSON object as text and must refuse keys it does not know.
  using Factory = std::function<std::unique_ptr<Checkpointer>(
      std::string_view json, const std::filesystem::path& serialization_dir)>;
  static void register_type(const std::string& name, Factory factory);
  // Parses the options of the default implementation from `json`, refusing keys outside
  // `extra_keys` and its own. For subclasses that add options.
  static CheckpointerOptions parse_options(std::string_view json,
                                           const std::filesystem::path& serialization_dir,
                                           const std::vector<std::string>& extra_keys = {});

  // Called after every batch: saves, and returns true, when model_save_interval seconds have
  // passed since this instance's last timed save (or its construction). Records
  // "batches_this_epoch" in the training state.
  virtual bool maybe_save_checkpoint(Trainer& trainer, int64_t epoch, int64_t batches_this_epoch);
  // Saves now, as a save made inside epoch `epoch` after `batches_this_epoch` batches, whatever
  // the interval says (and restarts the interval). For AllenNLP's intra-epoch epoch strings and
  // for frameworks that save (and evaluate) every n steps: `is_best_so_far` and `metrics` as
  // for save_checkpoint.
  virtual void save_checkpoint_inside_epoch(Trainer& trainer, int64_t epoch,
                                            int64_t batches_this_epoch,
                                            bool is_best_so_far = false,
                                            const Metrics& metrics = {});
  // Called at the end of epoch `epoch` (0-based). Adds "epoch" to the training state. `metrics`
  // are recorded in the manifest (non-finite values are left out, with a warning) and rank the
  // checkpoint for keep_best_k.
  virtual void save_checkpoint(int64_t epoch, Trainer& trainer, bool is_best_so_far = false,
                               const Metrics& metrics = {});

  // The newest checkpoint that verifies, or none. Reads (and checks) its files.
  virtual std::optional<CheckpointPaths> find_latest_checkpoint() const;
  // Model and training state of the newest valid checkpoint; both null when there is none (also
  // when the directory does not exist). A corrupt newer checkpoint is skipped with a warning; the
  // logger is told which checkpoint was restored.
  virtual CheckpointState restore_checkpoint();
  // As restore_checkpoint, reading in place: every tensor of `into` that is a writable view
  // (Tensor::writable_view; from_torch of a contiguous tensor, so module_state and
  // optimizer_state of the model being trained) and that the checkpoint holds at the same path
  // with the same dtype and shape is overwritten with the saved bytes (verified) and returned as
  // that view; other tensors come as restore_checkpoint gives them. No memory is allocated for
  // the bytes restored in place. When the newest checkpoint proves corrupt midway, the targets
  // hold part of it until the older checkpoint restored instead overwrites them.
  virtual CheckpointState restore_checkpoint_into(const CheckpointState& into);
  // As restore_checkpoint, with each sharded tensor cut to the box `slices` names for it (whole
  // when not named); the result's `shards` tells where each box sits. Reads only the bytes of the
  // boxes asked for (in checksum blocks of 4 MiB).
  CheckpointState restore_shards(const SliceRequest& slices);
  // The best model state, or null when there is none.
  virtual State best_model_state();

  // Every checkpoint cairn wrote here and still keeps, oldest first.
  std::vector<CheckpointInfo> list_checkpoints() const;
  // The checkpoint the last restore (restore_checkpoint, restore_checkpoint_into,
  // restore_shards) read; none before a restore, or when the last one found no checkpoint.
  std::optional<CheckpointInfo> last_restored() const;
  // What this checkpointer's retention policies decide for every checkpoint cairn wrote here,
  // oldest first, with the reasons; deletes nothing. After a save every decision is "keep" (the
  // save applied them); on a directory written with other options it shows what the next save
  // will delete.
  std::vector<RetentionDecision> explain_retention() const;
  // Blocks until every save is durable (committed); throws the failure of an asynchronous save.
  // Returns at once when saves are synchronous.
  void wait();

  const CheckpointerOptions& options() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
