#include "support/sharded_states.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <mutex>

#include "support/states.hpp"
#include "support/trainers.hpp"

namespace cairn::testing {
namespace {

State& at_path(CheckpointState& state, const StatePath& path) {
  State* node = path[0] == "model_state" ? &state.model_state : &state.training_state;
  for (size_t i = 1; i < path.size(); ++i) {
    if (!node->is_map()) *node = State::map();
    node = &(*node)[path[i]];
  }
  return *node;
}

CheckpointState replicated(int64_t step) {
  CheckpointState state{State::map(), State::map()};
  state.model_state["fc.bias"] = patterned_tensor(DType::F32, {10}, static_cast<uint32_t>(step));
  state.training_state["global_step"] = step;
  state.training_state["rng"] = patterned_tensor(DType::U8, {64}, static_cast<uint32_t>(step + 1));
  return state;
}

}  // namespace

std::vector<GlobalTensor> global_tensors(int64_t step) {
  // Made once per step: ranks on threads ask for them at once, and the big one is slow to fill.
  static std::mutex mutex;
  static std::map<int64_t, std::vector<GlobalTensor>> made;
  const std::lock_guard lock(mutex);
  if (auto it = made.find(step); it != made.end()) return it->second;
  if (made.size() > 4) made.erase(made.begin());
  const auto seed = [&](uint32_t k) { return static_cast<uint32_t>(step) * 16 + k; };
  return made[step] = {
      {{"model_state", "embed.weight"}, patterned_tensor(DType::F32, {37, 8}, seed(1)), 0, 1},
      {{"model_state", "fc.weight"}, patterned_tensor(DType::BF16, {6, 10, 5}, seed(2)), 1, 2},
      {{"model_state", "big"}, patterned_tensor(DType::U8, {5, 3'000'001}, seed(3)), 1, 0},
      {{"training_state", "optimizer", "exp_avg", "embed.weight"},
       patterned_tensor(DType::F32, {37, 8}, seed(4)), 0, 0},
  };
}

CheckpointState rank_state(int64_t step, int rank, int ranks) {
  CheckpointState state = replicated(step);
  for (const GlobalTensor& global : global_tensors(step)) {
    const Slice box = even_slice(global.full.shape(), global.save_dim, rank, ranks);
    at_path(state, global.path) = cut(global.full, box);
    state.shards[global.path] = Shard{global.full.shape(), box.offsets};
  }
  return state;
}

CheckpointState full_state(int64_t step) {
  CheckpointState state = replicated(step);
  for (const GlobalTensor& global : global_tensors(step)) at_path(state, global.path) = global.full;
  return state;
}

SliceRequest restore_request(int rank, int ranks) {
  SliceRequest request;
  for (const GlobalTensor& global : global_tensors(0)) {
    request[global.path] = even_slice(global.full.shape(), global.restore_dim, rank, ranks);
  }
  return request;
}

// Checks what rank `rank` of `ranks` restored against the boxes of the full tensors.
void expect_restored(const CheckpointState& restored, int64_t step, int rank, int ranks) {
  const CheckpointState full = full_state(step);
  EXPECT_EQ(restored.model_state.at("fc.bias"), full.model_state.at("fc.bias"));
  EXPECT_EQ(restored.training_state.at("global_step").as_int(), step);
  EXPECT_EQ(restored.training_state.at("epoch").as_int(), step);
  const SliceRequest request = restore_request(rank, ranks);
  for (const GlobalTensor& global : global_tensors(step)) {
    const Slice& box = request.at(global.path);
    const State* node = global.path[0] == "model_state" ? &restored.model_state
                                                          : &restored.training_state;
    for (size_t i = 1; i < global.path.size(); ++i) node = &node->at(global.path[i]);
    EXPECT_EQ(node->as_tensor(), cut(global.full, box))
        << format_path(global.path) << " on rank " << rank << " of " << ranks;
    EXPECT_EQ(restored.shards.at(global.path), (Shard{global.full.shape(), box.offsets}));
  }
}

CheckpointerOptions rank_options(const std::filesystem::path& dir, Coordinator& coordinator,
                                 int keep) {
  CheckpointerOptions options = quiet_options(dir, keep);
  options.coordinator = &coordinator;
  return options;
}

Tensor cut(const Tensor& full, const Slice& box) {
  const size_t element = dtype_size(full.dtype());
  const auto& shape = full.shape();
  int64_t count = 1;
  for (int64_t extent : box.shape) count *= extent;
  std::vector<std::byte> bytes(static_cast<size_t>(count) * element);
  std::vector<int64_t> index(box.shape.size(), 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t rest = n, source = 0;
    for (size_t d = box.shape.size(); d-- > 0;) {
      index[d] = rest % box.shape[d];
      rest /= box.shape[d];
    }
    for (size_t d = 0; d < shape.size(); ++d) source = source * shape[d] + box.offsets[d] + index[d];
    std::memcpy(bytes.data() + n * static_cast<int64_t>(element),
                full.data().data() + source * static_cast<int64_t>(element), element);
  }
  return Tensor(full.dtype(), box.shape, std::move(bytes));
}

}  // namespace cairn::testing
