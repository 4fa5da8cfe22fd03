// The key under which torch::optim::Optimizer::state() holds a parameter's state (internal:
// used by optimizer_state.cpp and the tests).
#pragma once

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include <torch/torch.h>

namespace cairn::torch_internal {

// LibTorch keys per-parameter state by the parameter's TensorImpl: by its address as text up to
// 1.13 (made by c10::guts::to_string, gone since), by the address itself in 2.x. The map's key
// type says which; a template, so that only the branch for this LibTorch is compiled.
using OptimizerStateKey = std::remove_cvref_t<
    decltype(std::declval<const torch::optim::Optimizer&>().state())>::key_type;

template <typename Key = OptimizerStateKey>
Key optimizer_state_key(const torch::Tensor& parameter) {
  void* impl = parameter.unsafeGetTensorImpl();
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;  // as c10::guts::to_string wrote it
    text << impl;
    return text.str();
  } else {
    static_assert(std::is_same_v<Key, void*>, "unknown key type of torch::optim state");
    return impl;
  }
}

}  // namespace cairn::torch_internal
