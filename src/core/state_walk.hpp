// Visiting every tensor of a State tree, in tree order.
#pragma once

#include <cstdint>
#include <functional>

#include "cairn/state.hpp"

namespace cairn::core {

// The sum of `measure(tensor)` over every tensor of `state` (maps and lists descended).
uint64_t sum_over_tensors(const State& state, const std::function<uint64_t(const Tensor&)>& measure);

}  // namespace cairn::core
