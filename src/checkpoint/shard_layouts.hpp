// Checks on the layout of sharded tensors a manifest records: that every rank agrees on each
// tensor, that the pieces tile each global tensor exactly, and that the files hold the pieces
// as described. Safe on hostile values (docs/sharding.md).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cairn/safetensors.hpp"
#include "checkpoint/manifest.hpp"

namespace cairn::checkpoint {

// Joins every rank's layouts into one per global tensor, in path order. Throws
// InvalidArgumentError, naming both files, when ranks disagree on a tensor's dtype or global
// shape.
std::vector<ShardedTensorLayout> merge_layouts(
    const std::vector<std::vector<ShardedTensorLayout>>& per_rank);
// Why `layouts` do not describe whole tensors (pieces outside the global shape, overlapping, or
// leaving gaps, sizes that overflow, a bad path or dtype), or nullopt when
// they do. Safe on hostile values.
std::optional<std::string> layout_problem(const std::vector<ShardedTensorLayout>& layouts);
// Why the pieces `layouts` name are not in `files` as described (a missing file or tensor, another
// dtype or shape), or nullopt. After it, reading a piece stays inside its tensor's bytes.
std::optional<std::string> pieces_problem(const std::vector<ShardedTensorLayout>& layouts,
                                          const std::map<std::string, const SafetensorsFile*>& files);

}  // namespace cairn::checkpoint
