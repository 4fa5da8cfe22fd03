// Generator states for bit-exact continuation.
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>

#include "cairn/error.hpp"
#include "cairn/torch.hpp"

namespace cairn {

State torch_rng_state() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return from_torch(generator.get_state());
}

void set_torch_rng_state(const State& state) {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(to_torch(state.as_tensor()));
}

State cpp_rng_state(const std::mt19937_64& generator) {
  std::ostringstream text;
  text << generator;
  return State(text.str());
}

void set_cpp_rng_state(std::mt19937_64& generator, const State& state) {
  std::istringstream text(state.as_string());
  std::mt19937_64 restored;
  text >> restored;
  if (text.fail()) throw InvalidArgumentError("not a std::mt19937_64 state");
  generator = restored;
}

}  // namespace cairn
