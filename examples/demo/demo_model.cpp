#include "demo_model.hpp"

#include <algorithm>
#include <numeric>
#include <random>

namespace demo {

MlpImpl::MlpImpl(int64_t inputs, int64_t hidden, int64_t classes)
    : fc1(register_module("fc1", torch::nn::Linear(inputs, hidden))),
      fc2(register_module("fc2", torch::nn::Linear(hidden, hidden))),
      fc3(register_module("fc3", torch::nn::Linear(hidden, classes))),
      dropout(register_module("dropout", torch::nn::Dropout(0.1))) {}

torch::Tensor MlpImpl::forward(torch::Tensor x) {
  x = dropout(torch::relu(fc1(x)));
  x = dropout(torch::relu(fc2(x)));
  return fc3(x);
}

Dataset make_dataset(uint64_t seed, int64_t samples, int64_t features, int64_t classes) {
  // Drawn with a C++ generator, not torch's, so the data never disturbs training's RNG stream.
  std::mt19937_64 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto draw = [&](int64_t rows, int64_t cols) {
    torch::Tensor t = torch::empty({rows, cols});
    float* data = t.data_ptr<float>();
    for (int64_t i = 0; i < rows * cols; ++i) data[i] = normal(generator);
    return t;
  };
  Dataset dataset;
  dataset.inputs = draw(samples, features);
  torch::Tensor teacher = draw(features, classes);
  dataset.labels = torch::tanh(dataset.inputs.matmul(teacher)).argmax(1);
  return dataset;
}

std::vector<int64_t> epoch_order(uint64_t seed, int64_t epoch, int64_t samples) {
  std::vector<int64_t> order(static_cast<size_t>(samples));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::mt19937_64 generator(seed * 1'000'003u + static_cast<uint64_t>(epoch));
  std::shuffle(order.begin(), order.end(), generator);
  return order;
}

}  // namespace demo
