#include "checkpoint/box_geometry.hpp"

#include <algorithm>

namespace cairn::checkpoint {

namespace {
// Element counts beyond this are refused: shapes read from a file are hostile until checked.
constexpr int64_t kMaxElements = int64_t{1} << 60;
}  // namespace

std::optional<int64_t> checked_volume(const std::vector<int64_t>& shape) {
  int64_t total = 1;
  for (int64_t extent : shape) {
    if (extent < 0 || (extent != 0 && total > kMaxElements / extent)) return std::nullopt;
    total *= extent;
  }
  return total;
}

int64_t volume(const std::vector<int64_t>& shape) { return checked_volume(shape).value_or(0); }

std::optional<Box> intersect(const std::vector<int64_t>& offsets_a,
                             const std::vector<int64_t>& shape_a,
                             const std::vector<int64_t>& offsets_b,
                             const std::vector<int64_t>& shape_b) {
  Box box;
  for (size_t d = 0; d < shape_a.size(); ++d) {
    const int64_t begin = std::max(offsets_a[d], offsets_b[d]);
    const int64_t end = std::min(offsets_a[d] + shape_a[d], offsets_b[d] + shape_b[d]);
    if (begin >= end) return std::nullopt;
    box.begin.push_back(begin);
    box.end.push_back(end);
  }
  return box;
}

int64_t linear_index(const std::vector<int64_t>& index, const std::vector<int64_t>& offsets,
                     const std::vector<int64_t>& shape) {
  int64_t linear = 0;
  for (size_t d = 0; d < shape.size(); ++d) linear = linear * shape[d] + (index[d] - offsets[d]);
  return linear;
}

bool inside(const std::vector<int64_t>& offsets, const std::vector<int64_t>& shape,
            const std::vector<int64_t>& global_shape) {
  if (offsets.size() != global_shape.size() || shape.size() != global_shape.size()) return false;
  for (size_t d = 0; d < global_shape.size(); ++d) {
    if (offsets[d] < 0 || shape[d] < 0 || shape[d] > global_shape[d] ||
        offsets[d] > global_shape[d] - shape[d]) {
      return false;
    }
  }
  return true;
}

}  // namespace cairn::checkpoint
