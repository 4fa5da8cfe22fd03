#include "checkpoint/shard_pieces.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "cairn/error.hpp"
#include "cairn/text.hpp"
#include "checkpoint/box_geometry.hpp"
#include "checkpoint/state_file.hpp"
#include "format/checksum.hpp"

namespace cairn::checkpoint {
namespace {

// Metadata key of a piece's block checksums: 16 hex digits per block, comma-separated.
std::string blocks_key(const std::string& tensor) { return "shard.xxh3_blocks." + tensor; }

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
