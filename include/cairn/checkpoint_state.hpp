// What a checkpoint holds, as the Checkpointer takes it from training and gives it back: the
// model state, the training state and, for sharded saves, where each of this rank's pieces sits.
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cairn/sharding.hpp"
#include "cairn/state.hpp"

namespace cairn {

struct CheckpointState {
  // A constructor rather than an aggregate: `return {model, training};` stays warning-free.
  CheckpointState(State model = {}, State training = {}, Shards shard_map = {})
      : model_state(std::move(model)),
        training_state(std::move(training)),
        shards(std::move(shard_map)) {}

  State model_state;
  State training_state;
  // Tensors of the two states that are this rank's piece of a global tensor. At a restore: the
  // box each restored sharded tensor holds.
  Shards shards;
};

// `auto [model, training] = checkpointer.restore_checkpoint();` binds the two states (the
// documented contract); `shards` is reached by name. The tuple protocol below makes the
// structured binding take two names whatever members CheckpointState gains.
template <std::size_t I>
  requires(I < 2)
State& get(CheckpointState& state) noexcept {
  if constexpr (I == 0) {
    return state.model_state;
  } else {
    return state.training_state;
  }
}
template <std::size_t I>
  requires(I < 2)
const State& get(const CheckpointState& state) noexcept {
  return get<I>(const_cast<CheckpointState&>(state));  // read only: returned as const again
}
template <std::size_t I>
  requires(I < 2)
State&& get(CheckpointState&& state) noexcept {
  return std::move(get<I>(state));
}

// What the Checkpointer asks for when, and only when, it has decided to save.
class Trainer {
 public:
  virtual ~Trainer() = default;
  virtual CheckpointState get_checkpoint_state() = 0;
};

}  // namespace cairn

template <>
struct std::tuple_size<cairn::CheckpointState> : std::integral_constant<std::size_t, 2> {};
template <std::size_t I>
struct std::tuple_element<I, cairn::CheckpointState> {
  using type = cairn::State;
};
