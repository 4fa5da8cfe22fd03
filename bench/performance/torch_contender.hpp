// LibTorch's rows: torch::save of the same tensors by name (then fsync), torch::load of them
// with every tensor read. Built when LibTorch is (CAIRN_BUILD_TORCH).
#pragma once

#include <filesystem>

#include "results.hpp"
#include "workloads.hpp"

namespace bench {

// One repetition of save+fsync and load (warm); false when built without LibTorch.
bool torch_cpp_round(const std::filesystem::path& dir, const Workload& workload,
                     const Materialized& state, Results& results);

}  // namespace bench
