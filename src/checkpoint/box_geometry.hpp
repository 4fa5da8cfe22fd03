// Boxes in the index space of a global tensor: volumes that never overflow, intersections,
// containment and row-major positions. Shapes read from a file are hostile until checked here.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace cairn::checkpoint {

// The number of elements of `shape`, or nullopt when an extent is negative or the product
// passes 2^60.
std::optional<int64_t> checked_volume(const std::vector<int64_t>& shape);
// For shapes already checked (a tensor's, or one checked_volume accepted).
int64_t volume(const std::vector<int64_t>& shape);

struct Box {
  std::vector<int64_t> begin;
  std::vector<int64_t> end;
};

// The common part of two boxes (offsets and shape each), or nullopt when they do not overlap.
std::optional<Box> intersect(const std::vector<int64_t>& offsets_a,
                             const std::vector<int64_t>& shape_a,
                             const std::vector<int64_t>& offsets_b,
                             const std::vector<int64_t>& shape_b);

// Row-major element index of `index` (global coordinates) inside the box at `offsets` of `shape`.
int64_t linear_index(const std::vector<int64_t>& index, const std::vector<int64_t>& offsets,
                     const std::vector<int64_t>& shape);

// True when the box at `offsets` with `shape` lies inside `global_shape` (same rank, no negative
// values); never overflows.
bool inside(const std::vector<int64_t>& offsets, const std::vector<int64_t>& shape,
            const std::vector<int64_t>& global_shape);

}  // namespace cairn::checkpoint
