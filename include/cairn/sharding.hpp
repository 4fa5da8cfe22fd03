// Sharded tensors: each rank holds a box of a global tensor. A save declares, for each sharded
// tensor in the rank's CheckpointState, the global shape and where its piece starts; a restore
// asks for the box each rank needs, under any layout and any number of ranks. docs/sharding.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cairn {

// Where a value sits in a CheckpointState: "model_state" or "training_state", then the map keys
// (list indices as decimal text) down to it: {"model_state", "fc1.weight"}.
using StatePath = std::vector<std::string>;

// A box of a tensor: where it starts and how far it extends along each dimension.
struct Slice {
  std::vector<int64_t> offsets;
  std::vector<int64_t> shape;
  friend bool operator==(const Slice&, const Slice&) = default;
};

// This rank's piece of a global tensor: the tensor at its path is the box of `global_shape`
// starting at `offsets` (its extent is the tensor's own shape).
struct Shard {
  std::vector<int64_t> global_shape;
  std::vector<int64_t> offsets;
  friend bool operator==(const Shard&, const Shard&) = default;
};

using Shards = std::map<StatePath, Shard>;
// What a rank asks for at restore: the box of each sharded tensor it needs. A sharded tensor
// not named comes whole.
using SliceRequest = std::map<StatePath, Slice>;

// Rank `rank` of `ranks`' part when `global_shape` is split along `dim` as evenly as possible
// (the first global_shape[dim] % ranks ranks get one more). Throws InvalidArgumentError for a
// bad dim or rank.
Slice even_slice(const std::vector<int64_t>& global_shape, size_t dim, int rank, int ranks);

// "model_state/layers/0/weight": for messages.
std::string format_path(const StatePath& path);

}  // namespace cairn
