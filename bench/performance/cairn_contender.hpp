// cairn's rows: durable saves (synchronous and asynchronous), opening a checkpoint, restores
// into new memory and in place, warm and cold, and a lazy zero-copy read of part of a state.
#pragma once

#include <filesystem>
#include <memory>

#include "cairn/checkpointer.hpp"
#include "results.hpp"
#include "workloads.hpp"

namespace bench {

class CairnContender {
 public:
  // Checkpoints go under `dir`; rows are named after `workload` (key).
  CairnContender(const std::filesystem::path& dir, const std::string& workload_key,
                 const Materialized& state, uint64_t bytes);
  ~CairnContender();

  // One repetition of: synchronous save into a new directory, open, restore into new memory,
  // restore in place (warm).
  void save_open_restore(Results& results);
  // One asynchronous save: how long the call blocks, and how long until it is durable.
  void async_save(Results& results);
  // Caches dropped, then a restore in place; false when caches cannot be dropped.
  bool cold_restore(Results& results);
  // Zero-copy: a tenth of the tensors read from a lazily opened file; resident growth.
  void partial_zero_copy(Results& results);

 private:
  class StateTrainer;
  std::filesystem::path dir_;
  std::string key_;
  const Materialized& state_;
  uint64_t bytes_;
  int repetition_ = 0;
  std::unique_ptr<StateTrainer> trainer_;
  std::unique_ptr<cairn::Checkpointer> async_;  // one across repetitions: staging is reused
  std::filesystem::path last_dir_;               // the last synchronous save's directory
};

}  // namespace bench
