#include "cairn/sharding.hpp"

#include "cairn/error.hpp"

namespace cairn {

Slice even_slice(const std::vector<int64_t>& global_shape, size_t dim, int rank, int ranks) {
  if (dim >= global_shape.size()) {
    throw InvalidArgumentError("cannot split a " + std::to_string(global_shape.size()) +
                               "-dimensional tensor along dimension " + std::to_string(dim));
  }
  if (ranks < 1 || rank < 0 || rank >= ranks) {
    throw InvalidArgumentError("rank " + std::to_string(rank) + " is not one of " +
                               std::to_string(ranks) + " ranks");
  }
  const int64_t extent = global_shape[dim];
  const int64_t base = extent / ranks, extra = extent % ranks;
  Slice slice{std::vector<int64_t>(global_shape.size(), 0), global_shape};
  slice.offsets[dim] = rank * base + std::min<int64_t>(rank, extra);
  slice.shape[dim] = base + (rank < extra ? 1 : 0);
  return slice;
}

std::string format_path(const StatePath& path) {
  std::string text;
  for (const std::string& part : path) {
    if (!text.empty()) text += '/';
    text += part;
  }
  return text;
}

}  // namespace cairn
