// The save protocol. Each step is durable before the next; with several ranks, rank 0 does the
// steps that name no rank, and every rank learns each step's outcome before the next
// (checkpointer/rank_group.hpp), so all succeed or all fail:
// 1. every rank takes its state and sets its sharded pieces apart; rank 0 takes the directory
//    lock (first save only: staging/ cleaned, the ledger settled), checks the free space,
//    records the new checkpoint as pending in the ledger (so a crash never leaves a folder
//    nobody owns) and opens staging/<name>.<pid>.<n>/; every rank learns that folder, rank 0
//    every rank's sharded paths
// 2. every rank writes its files into the staging folder, fsyncing each: rank 0 the model and
//    training state, each rank its shards; each tells rank 0 its files and their layout
// 3. rank 0 commits (checkpointer/directory_writer.hpp): writes the manifest with every rank's
//    files and the shard layout, publishes the folder into checkpoints/ with one rename,
//    updates best/ when asked, moves the checkpoint into the ledger's queue, applies retention,
//    writes the ledger and deletes what retention doomed
// A failure anywhere abandons the reservation (checkpointer/directory_writer.hpp).
#pragma once

#include <exception>
#include <optional>

#include "checkpointer/background_save.hpp"
#include "checkpointer/staging_memory.hpp"
#include "checkpointer/context.hpp"
#include "checkpointer/directory_writer.hpp"

namespace cairn::checkpointer {

struct SaveRequest {
  int64_t epoch = 0;
  std::optional<int64_t> batches_this_epoch;  // set for a save inside the epoch
  bool is_best_so_far = false;
  double save_time = 0;  // when the save was decided (wall clock): in the manifest and ledger
  Metrics metrics;
};

// Runs saves: synchronously, or (options.async_save) copied into staging memory and written on
// a background thread, one in flight at a time.
class Saver {
 public:
  Saver(const Context& context, DirectoryWriter& writer);

  void start(const SaveRequest& request, Trainer& trainer);
  // Waits for the save in flight, if any, and throws its failure.
  void settle();
  // Throws the failure of a background save that has ended; never waits for one still running.
  void throw_if_failed();
  // Waits for the save in flight; returns its failure (for a destructor, which must not throw).
  std::exception_ptr finish() noexcept { return background_.finish(); }

 private:
  void save(const SaveRequest& request, Trainer& trainer);
  // The finite values of `metrics` (the others are reported and left out). An end-of-epoch save
  // without the metric keep_best_k ranks by is reported too.
  Metrics recordable(const Metrics& metrics, int64_t epoch, bool end_of_epoch) const;
  // Fails early, before anything is written, when the filesystem lacks room for the checkpoint.
  void check_free_space(uint64_t tensor_bytes) const;

  const Context& context_;
  DirectoryWriter& writer_;
  checkpoint::StagingMemory staging_memory_;  // async saves: the copy being written
  // The asynchronous save in flight. While it runs, it alone uses the writer; the caller's
  // thread waits for it (settle) before any other use. Last: destroyed (joined) first.
  checkpoint::BackgroundSave background_;
};

}  // namespace cairn::checkpointer
