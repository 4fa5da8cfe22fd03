// The state of torch::optim::SGD, Adam and AdamW <-> a training State shaped like PyTorch's
// optimizer.state_dict(): {"type": "adam", "state": {"<index>": {...}}, "param_groups": [...]},
// parameters numbered across groups in order.
#include <string>

#include "cairn/error.hpp"
#include "cairn/torch.hpp"
#include "optimizer_state_key.hpp"

namespace cairn {
namespace {

namespace optim = torch::optim;

using torch_internal::optimizer_state_key;

std::string optimizer_type(const optim::Optimizer& optimizer) {
  if (dynamic_cast<const optim::AdamW*>(&optimizer)) return "adamw";
  if (dynamic_cast<const optim::Adam*>(&optimizer)) return "adam";
  if (dynamic_cast<const optim::SGD*>(&optimizer)) return "sgd";
  throw InvalidArgumentError("only torch::optim::SGD, Adam and AdamW are supported");
}

State betas(const std::tuple<double, double>& values) {
  State list = State::list();
  list.push_back(std::get<0>(values));
  list.push_back(std::get<1>(values));
  return list;
}

std::tuple<double, double> betas(const State& list) {
  if (!list.is_list() || list.size() != 2) throw InvalidArgumentError("betas must be a pair");
  return {list.at(0).as_double(), list.at(1).as_double()};
}

template <typename Options>
void save_adam_options(const Options& options, State& group) {
  group["lr"] = options.lr();
  group["betas"] = betas(options.betas());
  group["eps"] = options.eps();
  group["weight_decay"] = options.weight_decay();
  group["amsgrad"] = options.amsgrad();
}

template <typename Options>
void load_adam_options(Options& options, const State& group) {
  options.lr(group.at("lr").as_double());
  options.betas(betas(group.at("betas")));
  options.eps(group.at("eps").as_double());
  options.weight_decay(group.at("weight_decay").as_double());
  options.amsgrad(group.at("amsgrad").as_bool());
}

template <typename ParamState>
State save_adam_param(const ParamState& state) {
  State saved;
  saved["step"] = state.step();
  saved["exp_avg"] = from_torch(state.exp_avg());
  saved["exp_avg_sq"] = from_torch(state.exp_avg_sq());
  if (state.max_exp_avg_sq().defined()) saved["max_exp_avg_sq"] = from_torch(state.max_exp_avg_sq());
  return saved;
}

// A torch tensor holding `saved`: the very memory it was restored into in place when that memory
// keeps itself alive (a tensor of the optimizer, by restore_checkpoint_into), else a copy.
torch::Tensor restored_tensor(const State& saved) {
  const Tensor& tensor = saved.as_tensor();
  const bool in_place = tensor.writable_data() != nullptr && tensor.owns_data();
  return in_place ? view_as_torch(tensor) : to_torch(tensor);
}

template <typename ParamState>
std::unique_ptr<optim::OptimizerParamState> load_adam_param(const State& saved) {
  auto state = std::make_unique<ParamState>();
  state->step(saved.at("step").as_int());
  state->exp_avg(restored_tensor(saved.at("exp_avg")));
  state->exp_avg_sq(restored_tensor(saved.at("exp_avg_sq")));
  if (saved.contains("max_exp_avg_sq")) {
    state->max_exp_avg_sq(restored_tensor(saved.at("max_exp_avg_sq")));
  }
  return state;
}

}  // namespace

State optimizer_state(const optim::Optimizer& optimizer) {
  const std::string type = optimizer_type(optimizer);
  State per_parameter = State::map();
  State groups = State::list();
  int64_t index = 0;
  for (const auto& group : optimizer.param_groups()) {
    State group_state;
    if (type == "sgd") {
      const auto& options = static_cast<const optim::SGDOptions&>(group.options());
      group_state["lr"] = options.lr();
      group_state["momentum"] = options.momentum();
      group_state["dampening"] = options.dampening();
      group_state["weight_decay"] = options.weight_decay();
      group_state["nesterov"] = options.nesterov();
    } else if (type == "adam") {
      save_adam_options(static_cast<const optim::AdamOptions&>(group.options()), group_state);
    } else {
      save_adam_options(static_cast<const optim::AdamWOptions&>(group.options()), group_state);
    }
    State params = State::list();
    for (const torch::Tensor& parameter : group.params()) {
      params.push_back(index);
      auto found = optimizer.state().find(optimizer_state_key(parameter));
      if (found != optimizer.state().end()) {
        const auto& param_state = *found->second;
        State& slot = per_parameter[std::to_string(index)];
        if (type == "sgd") {
          slot["momentum_buffer"] =
              from_torch(static_cast<const optim::SGDParamState&>(param_state).momentum_buffer());
        } else if (type == "adam") {
          slot = save_adam_param(static_cast<const optim::AdamParamState&>(param_state));
        } else {
          slot = save_adam_param(static_cast<const optim::AdamWParamState&>(param_state));
        }
      }
      ++index;
    }
    group_state["params"] = std::move(params);
    groups.push_back(std::move(group_state));
  }
  State saved;
  saved["type"] = type;
  saved["state"] = std::move(per_parameter);
  saved["param_groups"] = std::move(groups);
  return saved;
}

void load_optimizer_state(optim::Optimizer& optimizer, const State& saved) {
  const std::string type = optimizer_type(optimizer);
  if (!saved.is_map() || !saved.contains("type") || saved.at("type").as_string() != type) {
    throw InvalidArgumentError("optimizer state is not for a torch::optim " + type + " optimizer");
  }
  const State& groups = saved.at("param_groups");
  auto& param_groups = optimizer.param_groups();
  if (groups.size() != param_groups.size()) {
    throw InvalidArgumentError("optimizer state has " + std::to_string(groups.size()) +
                               " param groups, the optimizer " +
                               std::to_string(param_groups.size()));
  }
  const State& per_parameter = saved.at("state");
  int64_t index = 0;
  for (size_t g = 0; g < param_groups.size(); ++g) {
    auto& group = param_groups[g];
    const State& group_state = groups.at(g);
    if (group_state.at("params").size() != group.params().size()) {
      throw InvalidArgumentError("param group " + std::to_string(g) + " has " +
                                 std::to_string(group_state.at("params").size()) +
                                 " parameters in the state, " +
                                 std::to_string(group.params().size()) + " in the optimizer");
    }
    if (type == "sgd") {
      auto& options = static_cast<optim::SGDOptions&>(group.options());
      options.lr(group_state.at("lr").as_double());
      options.momentum(group_state.at("momentum").as_double());
      options.dampening(group_state.at("dampening").as_double());
      options.weight_decay(group_state.at("weight_decay").as_double());
      options.nesterov(group_state.at("nesterov").as_bool());
    } else if (type == "adam") {
      load_adam_options(static_cast<optim::AdamOptions&>(group.options()), group_state);
    } else {
      load_adam_options(static_cast<optim::AdamWOptions&>(group.options()), group_state);
    }
    for (const torch::Tensor& parameter : group.params()) {
      const std::string key = std::to_string(index++);
      optimizer.state().erase(optimizer_state_key(parameter));
      if (!per_parameter.contains(key)) continue;
      const State& slot = per_parameter.at(key);
      std::unique_ptr<optim::OptimizerParamState> state;
      if (type == "sgd") {
        auto sgd = std::make_unique<optim::SGDParamState>();
        sgd->momentum_buffer(restored_tensor(slot.at("momentum_buffer")));
        state = std::move(sgd);
      } else if (type == "adam") {
        state = load_adam_param<optim::AdamParamState>(slot);
      } else {
        state = load_adam_param<optim::AdamWParamState>(slot);
      }
      optimizer.state()[optimizer_state_key(parameter)] = std::move(state);
    }
  }
}

}  // namespace cairn
