#include "support/trainers.hpp"

#include <algorithm>
#include <cstring>

#include "checkpoint/layout.hpp"

namespace cairn::testing {
namespace {

Tensor f32_tensor(std::vector<int64_t> shape, float base) {
  size_t count = 1;
  for (int64_t dim : shape) count *= static_cast<size_t>(dim);
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = base + static_cast<float>(i) * 0.25f;
  std::vector<std::byte> bytes(count * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return Tensor(DType::F32, std::move(shape), std::move(bytes));
}

}  // namespace

CheckpointState ToyTrainer::state_at(int64_t step) {
  const float base = static_cast<float>(step);
  CheckpointState state;
  state.model_state["fc1.weight"] = f32_tensor({8, 4}, base);
  state.model_state["fc1.bias"] = f32_tensor({8}, -base);
  state.model_state["fc2.weight"] = f32_tensor({2, 8}, base * 2);
  State& optimizer = state.training_state["optimizer"];
  for (int param = 0; param < 3; ++param) {
    State& slot = optimizer["state"][std::to_string(param)];
    slot["step"] = step;
    slot["exp_avg"] = f32_tensor({4}, base + static_cast<float>(param));
    slot["exp_avg_sq"] = f32_tensor({4}, base * base);
  }
  State group;
  group["lr"] = 0.001;
  group["betas"].push_back(0.9);
  group["betas"].push_back(0.999);
  group["params"].push_back(0);
  group["params"].push_back(1);
  group["params"].push_back(2);
  optimizer["param_groups"].push_back(std::move(group));
  state.training_state["global_step"] = step;
  return state;
}

CheckpointState ToyTrainer::get_checkpoint_state() {
  ++calls;
  return state_at(step);
}

Logger LogRecorder::logger() const {
  auto sink = lines;
  return [sink](LogLevel level, std::string_view message) {
    sink->push_back((level == LogLevel::Warning ? "warning: " : "") + std::string(message));
  };
}

std::vector<std::string> LogRecorder::matching(const std::string& fragment) const {
  std::vector<std::string> found;
  for (const std::string& line : *lines) {
    if (line.find(fragment) != std::string::npos) found.push_back(line);
  }
  return found;
}

CheckpointerOptions test_options(const std::filesystem::path& dir,
                                 const std::shared_ptr<FakeClock>& clock, const LogRecorder& log) {
  CheckpointerOptions options;
  options.serialization_dir = dir;
  options.clock = clock;
  options.logger = log.logger();
  return options;
}

CheckpointerOptions quiet_options(const std::filesystem::path& dir, std::optional<int> keep,
                                  Storage* storage) {
  CheckpointerOptions options;
  options.serialization_dir = dir;
  options.logger = null_logger();
  options.num_serialized_models_to_keep = keep;
  options.storage = storage;
  return options;
}

std::string invalid_argument_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const InvalidArgumentError& error) {
    return error.what();
  }
  return "";
}

std::vector<int64_t> epochs_on_disk(const std::filesystem::path& serialization_dir) {
  std::vector<int64_t> epochs;
  const auto dir = serialization_dir / checkpoint::kCheckpointsDir;
  for (const std::string& name : entry_names(dir)) {
    auto parsed = checkpoint::parse_checkpoint_name(name);
    if (parsed && std::filesystem::is_directory(dir / name)) epochs.push_back(parsed->epoch);
  }
  return epochs;
}

}  // namespace cairn::testing
