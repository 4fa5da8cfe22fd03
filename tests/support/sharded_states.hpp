// The state of a sharded training run, as each of n ranks holds it: tensors split along one
// dimension (unevenly where sizes do not divide), replicated values, a sharded optimizer
// moment, and a tensor large enough to span several checksum blocks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "cairn/checkpointer.hpp"

namespace cairn::testing {

struct GlobalTensor {
  StatePath path;
  Tensor full;
  size_t save_dim;     // split along this dimension at a save
  size_t restore_dim;  // and along this one at a restore: every box crosses pieces
};

// Every sharded tensor at `step`, whole.
std::vector<GlobalTensor> global_tensors(int64_t step);
// Rank `rank` of `ranks`' state at `step`: its piece of every global tensor, and the
// replicated values.
CheckpointState rank_state(int64_t step, int rank, int ranks);
// The whole state at `step` as a single process restores it (no shards).
CheckpointState full_state(int64_t step);
// What rank `rank` of `ranks` asks for at a restore: each tensor split along restore_dim.
SliceRequest restore_request(int rank, int ranks);
// Checks (gtest EXPECTs) what rank `rank` of `ranks` restored with restore_request against the
// boxes of the full tensors of `step`.
void expect_restored(const CheckpointState& restored, int64_t step, int rank, int ranks);
// The box of `full`, element by element.
Tensor cut(const Tensor& full, const Slice& box);

// Options for one rank: quiet_options (trainers.hpp) with `coordinator`.
CheckpointerOptions rank_options(const std::filesystem::path& dir, Coordinator& coordinator,
                                 int keep = 2);

// A trainer that reports rank_state(step, rank, ranks).
struct ShardedTrainer final : Trainer {
  int64_t step = 0;
  int rank = 0;
  int ranks = 1;
  CheckpointState get_checkpoint_state() override { return rank_state(step, rank, ranks); }
};

}  // namespace cairn::testing
