#include "core/state_walk.hpp"

namespace cairn::core {

uint64_t sum_over_tensors(const State& state, const std::function<uint64_t(const Tensor&)>& measure) {
  switch (state.kind()) {
    case State::Kind::Tensor: return measure(state.as_tensor());
    case State::Kind::List: {
      uint64_t total = 0;
      for (const State& element : state.elements()) total += sum_over_tensors(element, measure);
      return total;
    }
    case State::Kind::Map: {
      uint64_t total = 0;
      for (const auto& [key, value] : state.items()) total += sum_over_tensors(value, measure);
      return total;
    }
    default: return 0;
  }
}

}  // namespace cairn::core
