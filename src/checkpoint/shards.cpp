#include "checkpoint/shards.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <unordered_map>


#include "cairn/error.hpp"
#include "cairn/text.hpp"
#include "checkpoint/checkpoint_files.hpp"
#include "format/checksum.hpp"

namespace cairn::checkpoint {
namespace {

// Metadata key of a piece's block checksums: 16 hex digits per block, comma-separated.
std::string blocks_key(const std::string& tensor) { return "shard.xxh3_blocks." + tensor; }

// Element counts beyond this are refused: shapes read from a file are hostile until checked.
constexpr int64_t kMaxElements = int64_t{1} << 60;

// The number of elements of `shape`, or nullopt when an extent is negative or the product
// passes kMaxElements.
std::optional<int64_t> checked_volume(const std::vector<int64_t>& shape) {
  int64_t total = 1;
  for (int64_t extent : shape) {
    if (extent < 0 || (extent != 0 && total > kMaxElements / extent)) return std::nullopt;
    total *= extent;
  }
  return total;
}

// For shapes already checked (a tensor's, or one checked_volume accepted).
int64_t volume(const std::vector<int64_t>& shape) { return checked_volume(shape).value_or(0); }

// "model_state" or "training_state" of `state`, or null for any other name.
State* root_of(CheckpointState& state, const std::string& name) {
  if (name == "model_state") return &state.model_state;
  if (name == "training_state") return &state.training_state;
  return nullptr;
}

// The child of `node` at `key` (a map key, or a list index in decimal), or null.
State* child_of(State& node, const std::string& key) {
  if (node.is_map()) return node.contains(key) ? &node.at(key) : nullptr;
  if (!node.is_list()) return nullptr;
  size_t index = 0;
  const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), index);
  if (error != std::errc() || end != key.data() + key.size() || index >= node.size()) return nullptr;
  return &node.at(index);
}

// The slot at `path`, or null when the path leads nowhere.
State* slot_at(CheckpointState& state, const StatePath& path) {
  State* node = path.empty() ? nullptr : root_of(state, path[0]);
  for (size_t i = 1; node != nullptr && i < path.size(); ++i) node = child_of(*node, path[i]);
  return node;
}

struct Box {
  std::vector<int64_t> begin;
  std::vector<int64_t> end;
};

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

// Row-major element index of `index` (global coordinates) inside the box at `offsets` of `shape`.
int64_t linear_index(const std::vector<int64_t>& index, const std::vector<int64_t>& offsets,
                     const std::vector<int64_t>& shape) {
  int64_t linear = 0;
  for (size_t d = 0; d < shape.size(); ++d) linear = linear * shape[d] + (index[d] - offsets[d]);
  return linear;
}

// Copies byte ranges out of one piece, verifying each block it touches once.
class PieceReader {
 public:
  PieceReader(const SafetensorsFile& file, const std::string& tensor)
      : file_(file), tensor_(tensor), bytes_(file.tensor_unverified(tensor)) {
    const auto& metadata = file.metadata();
    const auto it = metadata.find(blocks_key(tensor));
    if (it == metadata.end()) fail("has no block checksums");
    const std::string& text = it->second;
    for (size_t at = 0; at < text.size(); at += 17) {
      const auto hash = format::parse_hex16(std::string_view(text).substr(at, 16));
      if (!hash || (at + 16 < text.size() && text[at + 16] != ',')) fail("has bad block checksums");
      hashes_.push_back(*hash);
    }
    const uint64_t size = bytes_.nbytes();
    if (hashes_.size() != (size + kShardBlockBytes - 1) / kShardBlockBytes) {
      fail("has " + std::to_string(hashes_.size()) + " block checksums for " +
           std::to_string(size) + " bytes");
    }
    verified_.assign(hashes_.size(), false);
  }

  void copy(uint64_t from, uint64_t length, std::byte* to) {
    const std::span<const std::byte> data = bytes_.data();
    if (length == 0) return;
    for (uint64_t block = from / kShardBlockBytes; block <= (from + length - 1) / kShardBlockBytes;
         ++block) {
      if (verified_[block]) continue;
      const uint64_t begin = block * kShardBlockBytes;
      const uint64_t size = std::min<uint64_t>(kShardBlockBytes, data.size() - begin);
      if (format::xxh3(data.subspan(begin, size)) != hashes_[block]) {
        fail("block " + std::to_string(block) + " fails its checksum");
      }
      verified_[block] = true;
    }
    std::memcpy(to, data.data() + from, length);
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    throw CorruptDataError(file_.path(), "sharded tensor '" + tensor_ + "' " + reason);
  }

  const SafetensorsFile& file_;
  std::string tensor_;
  Tensor bytes_;
  std::vector<uint64_t> hashes_;
  std::vector<bool> verified_;
};

// Copies the part of `piece` inside `box` into `out` (the bytes of `box`), as runs along the
// last dimension, merging runs contiguous in both.
void copy_overlap(PieceReader& reader, const ShardPiece& piece, const Slice& box,
                  const Box& overlap, size_t element_size, std::byte* out) {
  const int dims = static_cast<int>(box.shape.size());
  if (dims == 0) {
    reader.copy(0, element_size, out);
    return;
  }
  const uint64_t run =
      static_cast<uint64_t>(overlap.end.back() - overlap.begin.back()) * element_size;
  std::vector<int64_t> index = overlap.begin;
  uint64_t pending_from = 0, pending_to = 0, pending_length = 0;
  while (true) {
    const uint64_t from =
        static_cast<uint64_t>(linear_index(index, piece.offsets, piece.shape)) * element_size;
    const uint64_t to =
        static_cast<uint64_t>(linear_index(index, box.offsets, box.shape)) * element_size;
    if (pending_length > 0 && from == pending_from + pending_length &&
        to == pending_to + pending_length) {
      pending_length += run;
    } else {
      reader.copy(pending_from, pending_length, out + pending_to);
      pending_from = from;
      pending_to = to;
      pending_length = run;
    }
    // The next run: an odometer over every dimension but the last.
    int d = dims - 2;
    for (; d >= 0; --d) {
      if (++index[d] < overlap.end[d]) break;
      index[d] = overlap.begin[d];
    }
    if (d < 0) break;
  }
  reader.copy(pending_from, pending_length, out + pending_to);
}

}  // namespace

std::string shard_file_name(int rank) {
  char name[48];
  std::snprintf(name, sizeof(name), "%s%05d.safetensors", kShardFilePrefix, rank);
  return name;
}

std::vector<Piece> take_pieces(CheckpointState& state) {
  std::vector<Piece> pieces;
  for (const auto& [path, shard] : state.shards) {
    const std::string where = format_path(path);
    State* slot = slot_at(state, path);
    if (slot == nullptr || !slot->is_tensor()) {
      throw InvalidArgumentError("sharded tensor " + where + " is not a tensor of the state");
    }
    const Tensor& tensor = slot->as_tensor();
    const auto& shape = tensor.shape();
    if (shard.global_shape.size() != shape.size() || shard.offsets.size() != shape.size()) {
      throw InvalidArgumentError("sharded tensor " + where + " has " + std::to_string(shape.size()) +
                                 " dimensions but its shard gives " +
                                 std::to_string(shard.global_shape.size()) + " global and " +
                                 std::to_string(shard.offsets.size()) + " offsets");
    }
    for (size_t d = 0; d < shape.size(); ++d) {
      if (!inside({shard.offsets[d]}, {shape[d]}, {shard.global_shape[d]})) {
        throw InvalidArgumentError("sharded tensor " + where + ": along dimension " +
                                   std::to_string(d) + " the piece of " + std::to_string(shape[d]) +
                                   " from offset " + std::to_string(shard.offsets[d]) +
                                   " lies outside the global extent " +
                                   std::to_string(shard.global_shape[d]));
      }
    }
    if (!checked_volume(shard.global_shape)) {
      throw InvalidArgumentError("sharded tensor " + where + ": the global shape is too large");
    }
    pieces.push_back({path, tensor, shard});
    *slot = State();
  }
  return pieces;
}

void make_room(CheckpointState& state, const std::vector<StatePath>& paths) {
  for (const StatePath& path : paths) {
    const std::string where = format_path(path);
    State* node = path.empty() ? nullptr : root_of(state, path[0]);
    if (node == nullptr) {
      throw InvalidArgumentError("sharded tensor " + where +
                                 ": the path must start with model_state or training_state");
    }
    for (size_t i = 1; i < path.size(); ++i) {
      if (node->is_null()) *node = State::map();
      if (node->is_map() && !node->contains(path[i])) (*node)[path[i]] = State();
      node = child_of(*node, path[i]);
      if (node == nullptr) {
        throw InvalidArgumentError("sharded tensor " + where + " has no place in rank 0's state " +
                                   "(its path runs through a value or past a list's end)");
      }
    }
    if (!node->is_null()) {
      throw InvalidArgumentError("sharded tensor " + where + ": rank 0 holds a value of its own " +
                                 "there, while another rank declares it a shard");
    }
  }
}

std::vector<ShardedTensorLayout> layouts_of(const std::vector<Piece>& pieces,
                                            const std::string& file) {
  std::vector<ShardedTensorLayout> layouts;
  for (const Piece& piece : pieces) {
    layouts.push_back({piece.path,
                       std::string(dtype_name(piece.tensor.dtype())),
                       piece.shard.global_shape,
                       {{file, format_path(piece.path), piece.shard.offsets, piece.tensor.shape()}}});
  }
  return layouts;
}

ManifestFile write_pieces(std::unique_ptr<WritableFile> out, const std::filesystem::path& path,
                          const std::vector<Piece>& pieces) {
  State state = State::map();
  Metadata metadata;
  for (const Piece& piece : pieces) {
    const std::string name = format_path(piece.path);
    state[name] = piece.tensor;
    const auto bytes = piece.tensor.data();
    std::string hashes;
    for (uint64_t begin = 0; begin < bytes.size(); begin += kShardBlockBytes) {
      if (!hashes.empty()) hashes += ',';
      hashes += format::to_hex16(format::xxh3(
          bytes.subspan(begin, std::min<uint64_t>(kShardBlockBytes, bytes.size() - begin))));
    }
    metadata[blocks_key(name)] = hashes;
  }
  return write_state_file(std::move(out), path, state, metadata);
}

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

Tensor read_box(const ShardedTensorLayout& layout, const Slice& box,
                const std::map<std::string, const SafetensorsFile*>& files) {
  const DType dtype = *dtype_from_name(layout.dtype);
  const size_t element_size = dtype_size(dtype);
  std::vector<std::byte> bytes(static_cast<size_t>(volume(box.shape)) * element_size);
  for (const ShardPiece& piece : layout.pieces) {
    const auto overlap = intersect(piece.offsets, piece.shape, box.offsets, box.shape);
    if (!overlap) continue;
    PieceReader reader(*files.at(piece.file), piece.tensor);
    copy_overlap(reader, piece, box, *overlap, element_size, bytes.data());
  }
  return Tensor(dtype, box.shape, std::move(bytes));
}

void place(CheckpointState& state, const StatePath& path, Tensor value,
           const std::filesystem::path& for_errors) {
  State* slot = slot_at(state, path);
  if (slot == nullptr || !slot->is_null()) {
    throw CorruptDataError(for_errors, "sharded tensor " + format_path(path) +
                                           " has no place in the saved state");
  }
  *slot = std::move(value);
}

}  // namespace cairn::checkpoint
