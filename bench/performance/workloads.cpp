#include "workloads.hpp"

#include <cstdio>
#include <utility>
#include <initializer_list>
#include <string_view>

namespace bench {

namespace {

// Joined with append rather than operator+, which GCC 12 at -O3 warns about (-Wrestrict, a
// false positive).
std::string joined(std::initializer_list<std::string_view> parts) {
  std::string text;
  for (std::string_view part : parts) text += part;
  return text;
}

}  // namespace

uint64_t Workload::bytes() const {
  uint64_t total = 0;
  for (const TensorSpec& tensor : tensors) {
    uint64_t count = 4;
    for (int64_t dim : tensor.shape) count *= static_cast<uint64_t>(dim);
    total += count;
  }
  return total;
}

namespace {

// `count` equal F32 tensors of `mib` MiB in all.
Workload equal_tensors(std::string key, uint64_t mib, int count) {
  Workload workload{std::move(key), "", {}};
  const int64_t floats = static_cast<int64_t>(mib * (1 << 20) / static_cast<uint64_t>(count) / 4);
  for (int i = 0; i < count; ++i) {
    workload.tensors.push_back({joined({"layers.", std::to_string(i), ".weight"}), false, {floats}});
  }
  char text[64];
  std::snprintf(text, sizeof text, "%.1f MiB in %d F32 tensors",
                static_cast<double>(workload.bytes()) / (1 << 20), count);
  workload.description = text;
  return workload;
}

}  // namespace

Workload large_tensors(uint64_t mib, int count) { return equal_tensors("a", mib, count); }

Workload small_tensors(uint64_t mib, int count) { return equal_tensors("b", mib, count); }

Workload model_with_adam() {
  constexpr int64_t kVocab = 50257, kContext = 1024, kWidth = 768, kLayers = 12;
  std::vector<TensorSpec> model = {{"wte.weight", false, {kVocab, kWidth}},
                                   {"wpe.weight", false, {kContext, kWidth}}};
  for (int64_t layer = 0; layer < kLayers; ++layer) {
    const std::string prefix = joined({"h.", std::to_string(layer), "."});
    for (const auto& [name, shape] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
             {"ln_1.weight", {kWidth}},          {"ln_1.bias", {kWidth}},
             {"attn.c_attn.weight", {kWidth, 3 * kWidth}}, {"attn.c_attn.bias", {3 * kWidth}},
             {"attn.c_proj.weight", {kWidth, kWidth}},     {"attn.c_proj.bias", {kWidth}},
             {"ln_2.weight", {kWidth}},          {"ln_2.bias", {kWidth}},
             {"mlp.c_fc.weight", {kWidth, 4 * kWidth}},    {"mlp.c_fc.bias", {4 * kWidth}},
             {"mlp.c_proj.weight", {4 * kWidth, kWidth}},  {"mlp.c_proj.bias", {kWidth}}}) {
      model.push_back({joined({prefix, name}), false, shape});
    }
  }
  model.push_back({"ln_f.weight", false, {kWidth}});
  model.push_back({"ln_f.bias", false, {kWidth}});
  Workload workload{"c", "", model};
  // Adam keeps two moments per parameter, as PyTorch's optimizer.state_dict() names them.
  for (size_t index = 0; index < model.size(); ++index) {
    for (const char* moment : {"exp_avg", "exp_avg_sq"}) {
      workload.tensors.push_back(
          {joined({"state.", std::to_string(index), ".", moment}), true, model[index].shape});
    }
  }
  char text[96];
  std::snprintf(text, sizeof text, "GPT-2 small + Adam: %.2f GiB in %zu F32 tensors",
                static_cast<double>(workload.bytes()) / (1 << 30), workload.tensors.size());
  workload.description = text;
  return workload;
}

void insert_dotted(cairn::State& tree, const std::string& name, const cairn::State& value) {
  const size_t dot = name.find('.');
  if (dot == std::string::npos) {
    tree[name] = value;
    return;
  }
  insert_dotted(tree[name.substr(0, dot)], name.substr(dot + 1), value);
}

Materialized::Materialized(const Workload& workload) {
  cairn::State model = cairn::State::map();
  cairn::State optimizer = cairn::State::map();
  uint32_t pattern = 1;
  for (const TensorSpec& spec : workload.tensors) {
    int64_t count = 1;
    for (int64_t dim : spec.shape) count *= dim;
    std::vector<float>& buffer = buffers_.emplace_back(static_cast<size_t>(count));
    for (float& value : buffer) value = static_cast<float>((pattern = pattern * 1664525u + 1013904223u) >> 8);
    tensors_.push_back(cairn::Tensor::writable_view(cairn::DType::F32, spec.shape, buffer.data(),
                                                    buffer.size() * sizeof(float)));
    if (spec.training) {
      insert_dotted(optimizer, spec.name, tensors_.back());
    } else {
      model[spec.name] = tensors_.back();  // model states are flat, keyed by dotted names
    }
  }
  cairn::State training = cairn::State::map();
  if (optimizer.size() > 0) training["optimizer"] = optimizer;
  state_ = {model, training};
}

}  // namespace bench
