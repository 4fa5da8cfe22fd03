// The demo's model and data: a 3-layer MLP with dropout, learning to classify points labelled by
// a fixed random "teacher" network. Everything derives from the seed, so two runs with the same
// seed see the same data in the same order.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace demo {

struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t inputs, int64_t hidden, int64_t classes);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(Mlp);

struct Dataset {
  torch::Tensor inputs;  // [samples, features], F32
  torch::Tensor labels;  // [samples], I64
};

// `samples` points with `features` features, labelled by a teacher network seeded by `seed`.
Dataset make_dataset(uint64_t seed, int64_t samples, int64_t features, int64_t classes);

// The order of the samples in `epoch`: a permutation drawn from (seed, epoch) alone, so a run
// resumed in the middle of an epoch sees the same order as one that never stopped.
std::vector<int64_t> epoch_order(uint64_t seed, int64_t epoch, int64_t samples);

}  // namespace demo
