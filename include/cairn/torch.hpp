// LibTorch adapter (library cairn_torch, target cairn::torch; built with CAIRN_BUILD_TORCH).
//
// Converts between torch and cairn, in both directions:
// - tensors (CPU; BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64, and where the LibTorch has
//   them U16, U32, U64 (2.3 on), F8_E4M3 and F8_E5M2 (2.1 on); non-contiguous tensors are made
//   contiguous);
// - a module's parameters and buffers <-> a flat model State keyed by PyTorch's dotted names;
// - the state of torch::optim::SGD, Adam and AdamW <-> a training State shaped like PyTorch's
//   optimizer.state_dict() ({"state": {"0": {...}}, "param_groups": [...]});
// - the default CPU generator's state.
// TorchTrainer bundles all of it for a training loop.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include <torch/torch.h>

#include "cairn/checkpointer.hpp"
#include "cairn/state.hpp"

namespace cairn {

// A cairn tensor viewing `tensor`'s memory (no copy when it is contiguous; it keeps the torch
// storage alive). Throws InvalidArgumentError for a tensor not on the CPU, sparse, or of a dtype
// safetensors lacks.
Tensor from_torch(const torch::Tensor& tensor);
// A torch tensor owning a copy of `tensor`'s bytes. Throws InvalidArgumentError for a dtype
// this LibTorch lacks (1.13: U16, U32, U64, F8_E4M3, F8_E5M2).
torch::Tensor to_torch(const Tensor& tensor);
// A torch tensor viewing `tensor`'s bytes without a copy (the view keeps them alive). The
// memory may be a read-only file mapping: never write to the result.
torch::Tensor view_as_torch(const Tensor& tensor);

// The module's parameters and buffers, by dotted name ("fc1.weight"), viewed without a copy.
State module_state(const torch::nn::Module& module);
// Copies `state` into the module's parameters and buffers. Throws InvalidArgumentError naming
// every missing, unexpected, mis-shaped or mis-typed entry, before changing anything.
void load_module_state(torch::nn::Module& module, const State& state);

// The state of an SGD, Adam or AdamW optimizer: per-parameter state by global parameter index,
// and each param group's options and parameter indices. Tensors are viewed without a copy.
State optimizer_state(const torch::optim::Optimizer& optimizer);
// Restores `state` into an optimizer of the same type over the same parameters (for example a
// fresh one over the same module), so that training continues identically. Throws
// InvalidArgumentError on a type, group or parameter mismatch.
void load_optimizer_state(torch::optim::Optimizer& optimizer, const State& state);

// The default CPU generator's state (a U8 tensor), and setting it back.
State torch_rng_state();
void set_torch_rng_state(const State& state);
// A C++ standard generator's state, as text, and setting it back.
State cpp_rng_state(const std::mt19937_64& generator);
void set_cpp_rng_state(std::mt19937_64& generator, const State& state);

// A cairn::Trainer for a LibTorch training loop: model state = the module's; training state =
// the optimizer's, the generators', and `extra` (the user's own values).
class TorchTrainer : public Trainer {
 public:
  // `cpp_generator` is optional: a generator the loop draws from, saved and restored too.
  TorchTrainer(torch::nn::Module& module, torch::optim::Optimizer& optimizer,
               std::mt19937_64* cpp_generator = nullptr);

  State extra = State::map();  // saved under "extra" in the training state

  CheckpointState get_checkpoint_state() override;

  // Where to continue training.
  struct ResumePoint {
    bool resumed = false;     // false: nothing was restored, start from scratch
    int64_t epoch = 0;        // the epoch to run next (0-based)
    int64_t batches_done = 0;  // batches of `epoch` already done: skip them
  };
  // Applies a restored checkpoint (module, optimizer, generators, extra) and says where to
  // continue, by the resume rule: with "batches_this_epoch", continue epoch "epoch" after that
  // many batches; without it, start epoch "epoch" + 1. A null state means nothing to restore.
  ResumePoint restore(const CheckpointState& state);

 private:
  torch::nn::Module& module_;
  torch::optim::Optimizer& optimizer_;
  std::mt19937_64* cpp_generator_;
};

}  // namespace cairn
