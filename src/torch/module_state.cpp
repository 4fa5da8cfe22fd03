// A torch::nn::Module's parameters and buffers <-> a flat model State.
#include <string>
#include <unordered_set>
#include <vector>

#include "cairn/error.hpp"
#include "cairn/text.hpp"
#include "cairn/torch.hpp"

namespace cairn {
namespace {

// Parameters then buffers, by dotted name, as PyTorch's state_dict() lists them.
std::vector<std::pair<std::string, torch::Tensor>> named_entries(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> entries;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    entries.emplace_back(item.key(), item.value());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    entries.emplace_back(item.key(), item.value());
  }
  return entries;
}

}  // namespace

State module_state(const torch::nn::Module& module) {
  State state = State::map();
  for (const auto& [name, tensor] : named_entries(module)) state[name] = from_torch(tensor);
  return state;
}

void load_module_state(torch::nn::Module& module, const State& state) {
  if (!state.is_map()) {
    throw InvalidArgumentError("model state must be a map of tensors, not a " +
                               std::string(kind_name(state.kind())));
  }
  auto entries = named_entries(module);
  std::vector<std::string> problems;
  for (const auto& [name, tensor] : entries) {
    if (!state.contains(name)) {
      problems.push_back("missing '" + name + "'");
      continue;
    }
    const State& value = state.at(name);
    if (!value.is_tensor()) {
      problems.push_back("'" + name + "' is a " + std::string(kind_name(value.kind())) +
                         ", not a tensor");
      continue;
    }
    torch::Tensor stored = view_as_torch(value.as_tensor());
    if (stored.sizes() != tensor.sizes()) {
      problems.push_back("'" + name + "' has shape " + format_shape(stored.sizes().vec()) +
                         " in the checkpoint but " + format_shape(tensor.sizes().vec()) + " in the module");
    } else if (stored.scalar_type() != tensor.scalar_type()) {
      problems.push_back("'" + name + "' is " +
                         std::string(dtype_name(value.as_tensor().dtype())) +
                         " in the checkpoint but " +
                         std::string(dtype_name(from_torch(tensor).dtype())) + " in the module");
    }
  }
  std::unordered_set<std::string> known;
  for (const auto& entry : entries) known.insert(entry.first);
  for (const auto& [name, value] : state.items()) {
    if (!known.contains(name)) problems.push_back("unexpected '" + name + "'");
  }
  if (!problems.empty()) {
    std::string message = "cannot load the model state into the module:";
    for (const std::string& problem : problems) message += " " + problem + ";";
    message.pop_back();
    throw InvalidArgumentError(message);
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : entries) {
    const Tensor& saved = state.at(name).as_tensor();
    // Restored in place already (restore_checkpoint_into filled the parameter's own memory).
    if (saved.nbytes() > 0 && saved.data().data() == tensor.data_ptr()) continue;
    tensor.copy_(view_as_torch(saved));
  }
}

}  // namespace cairn
