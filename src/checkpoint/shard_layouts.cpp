#include "checkpoint/shard_layouts.hpp"

#include <unordered_map>

#include "cairn/error.hpp"
#include "cairn/sharding.hpp"
#include "cairn/text.hpp"
#include "checkpoint/box_geometry.hpp"

namespace cairn::checkpoint {

std::vector<ShardedTensorLayout> merge_layouts(
    const std::vector<std::vector<ShardedTensorLayout>>& per_rank) {
  std::map<StatePath, ShardedTensorLayout> merged;
  for (const auto& layouts : per_rank) {
    for (const ShardedTensorLayout& layout : layouts) {
      auto [it, fresh] = merged.try_emplace(layout.path, layout);
      if (fresh) continue;
      ShardedTensorLayout& into = it->second;
      if (into.dtype != layout.dtype || into.global_shape != layout.global_shape) {
        throw InvalidArgumentError("sharded tensor " + format_path(layout.path) +
                                   ": ranks disagree on its dtype or global shape (" + into.dtype +
                                   " " + format_shape(into.global_shape) + " in " +
                                   into.pieces.front().file + ", " + layout.dtype + " " +
                                   format_shape(layout.global_shape) + " in " +
                                   layout.pieces.front().file + ")");
      }
      into.pieces.insert(into.pieces.end(), layout.pieces.begin(), layout.pieces.end());
    }
  }
  std::vector<ShardedTensorLayout> result;
  for (auto& [path, layout] : merged) result.push_back(std::move(layout));
  return result;
}

std::optional<std::string> layout_problem(const std::vector<ShardedTensorLayout>& layouts) {
  for (const ShardedTensorLayout& layout : layouts) {
    const std::string where = "sharded tensor " + format_path(layout.path);
    if (layout.path.empty() ||
        (layout.path[0] != "model_state" && layout.path[0] != "training_state")) {
      return where + ": the path must start with model_state or training_state";
    }
    if (!dtype_from_name(layout.dtype)) return where + ": unknown dtype " + layout.dtype;
    const auto global_volume = checked_volume(layout.global_shape);
    if (!global_volume) return where + ": its global shape is too large";
    int64_t covered = 0;
    std::vector<int64_t> volumes;  // of the pieces checked so far
    for (const ShardPiece& piece : layout.pieces) {
      if (!inside(piece.offsets, piece.shape, layout.global_shape)) {
        return where + ": a piece in " + piece.file + " lies outside the global shape";
      }
      volumes.push_back(volume(piece.shape));
      for (size_t j = 0; volumes.back() > 0 && j + 1 < volumes.size(); ++j) {
        const ShardPiece& other = layout.pieces[j];
        if (volumes[j] > 0 && intersect(piece.offsets, piece.shape, other.offsets, other.shape)) {
          return where + ": the pieces in " + piece.file + " and " + other.file + " overlap";
        }
      }
      covered += volumes.back();
    }
    if (covered != *global_volume) {
      return where + ": the pieces cover " + std::to_string(covered) + " of its " +
             std::to_string(*global_volume) + " elements";
    }
  }
  return std::nullopt;
}

std::optional<std::string> pieces_problem(const std::vector<ShardedTensorLayout>& layouts,
                                          const std::map<std::string, const SafetensorsFile*>& files) {
  // Each file's tensors by name, made once: a layout may name thousands of pieces per file.
  std::map<std::string, std::unordered_map<std::string_view, const TensorInfo*>> indexes;
  for (const auto& [name, file] : files) {
    auto& index = indexes[name];
    for (const TensorInfo& info : file->tensors()) index.emplace(info.name, &info);
  }
  for (const ShardedTensorLayout& layout : layouts) {
    for (const ShardPiece& piece : layout.pieces) {
      const auto file = indexes.find(piece.file);
      if (file == indexes.end()) return "no file " + piece.file + " for " + piece.tensor;
      const auto found = file->second.find(piece.tensor);
      if (found == file->second.end()) {
        return piece.file + " holds no tensor '" + piece.tensor + "'";
      }
      const TensorInfo* info = found->second;
      if (dtype_name(info->dtype) != layout.dtype || info->shape != piece.shape) {
        return piece.file + ": tensor '" + piece.tensor + "' is " +
               std::string(dtype_name(info->dtype)) + " " + format_shape(info->shape) +
               ", the manifest says " + layout.dtype + " " + format_shape(piece.shape);
      }
    }
  }
  return std::nullopt;
}

}  // namespace cairn::checkpoint
