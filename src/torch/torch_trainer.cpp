#include "cairn/error.hpp"
#include "cairn/torch.hpp"

namespace cairn {

TorchTrainer::TorchTrainer(torch::nn::Module& module, torch::optim::Optimizer& optimizer,
                           std::mt19937_64* cpp_generator)
    : module_(module), optimizer_(optimizer), cpp_generator_(cpp_generator) {}

CheckpointState TorchTrainer::get_checkpoint_state() {
  CheckpointState state;
  state.model_state = module_state(module_);
  state.training_state["optimizer"] = optimizer_state(optimizer_);
  state.training_state["rng"]["torch"] = torch_rng_state();
  if (cpp_generator_ != nullptr) state.training_state["rng"]["cpp"] = cpp_rng_state(*cpp_generator_);
  state.training_state["extra"] = extra;
  return state;
}

TorchTrainer::ResumePoint TorchTrainer::restore(const CheckpointState& state) {
  if (state.model_state.is_null() && state.training_state.is_null()) return {};
  const State& training = state.training_state;
  load_module_state(module_, state.model_state);
  load_optimizer_state(optimizer_, training.at("optimizer"));
  set_torch_rng_state(training.at("rng").at("torch"));
  if (cpp_generator_ != nullptr) set_cpp_rng_state(*cpp_generator_, training.at("rng").at("cpp"));
  extra = training.contains("extra") ? training.at("extra") : State::map();
  ResumePoint point;
  point.resumed = true;
  const int64_t epoch = training.at("epoch").as_int();
  if (training.contains("batches_this_epoch")) {
    point.epoch = epoch;
    point.batches_done = training.at("batches_this_epoch").as_int();
  } else {
    point.epoch = epoch + 1;
  }
  return point;
}

}  // namespace cairn
