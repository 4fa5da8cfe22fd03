// The states the benchmark saves and restores, each touched (filled) before it is measured:
// (a) N MiB in 100 float32 tensors, (b) 100 MiB in 10,000 small tensors, (c) a GPT-2-small
// shaped model (124 M parameters) with Adam's two moments per parameter.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cairn/checkpointer.hpp"

namespace bench {

struct TensorSpec {
  std::string name;  // dotted, as PyTorch names it
  bool training = false;  // part of the training state (optimizer), not the model
  std::vector<int64_t> shape;  // float32
};

struct Workload {
  std::string key;          // "a", "b", "c"
  std::string description;  // "1.00 GiB in 100 F32 tensors"
  std::vector<TensorSpec> tensors;
  uint64_t bytes() const;
};

Workload large_tensors(uint64_t mib, int count = 100);
Workload small_tensors(uint64_t mib = 100, int count = 10000);
Workload model_with_adam();

// Memory for a workload's tensors, filled with a pattern (so every page is touched), and the
// Checkpointer's view of it: the model state and, under "optimizer", the training state.
class Materialized {
 public:
  explicit Materialized(const Workload& workload);
  const cairn::CheckpointState& state() const { return state_; }
  // The tensors in spec order, viewing this memory.
  const std::vector<cairn::Tensor>& tensors() const { return tensors_; }

 private:
  std::vector<std::vector<float>> buffers_;
  std::vector<cairn::Tensor> tensors_;
  cairn::CheckpointState state_;
};

// Inserts `value` at the dotted path `name` of `tree` (maps all the way down).
void insert_dotted(cairn::State& tree, const std::string& name, const cairn::State& value);

}  // namespace bench
