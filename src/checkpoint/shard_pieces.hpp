// The pieces of sharded tensors inside a checkpoint (docs/sharding.md): taking each rank's
// pieces out of its state, writing them with block checksums, and reading back any box of a
// global tensor from the pieces that hold it (checkpoint/shard_layouts.hpp checks the layout
// first).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cairn/checkpoint_state.hpp"
#include "cairn/safetensors.hpp"
#include "checkpoint/manifest.hpp"

namespace cairn::checkpoint {

// Restores verify sharded pieces in blocks of this many bytes, so a box is checked without
// reading the whole piece.
inline constexpr uint64_t kShardBlockBytes = uint64_t{4} << 20;

inline constexpr const char* kShardFilePrefix = "shards-rank";
// "shards-rank00003.safetensors": the file rank 3 writes.
std::string shard_file_name(int rank);

struct Piece {
  StatePath path;
  Tensor tensor;
  Shard shard;
};

// Moves every tensor `state.shards` names out of the state, leaving null in its place, and
// checks that each piece fits its global shape. Throws InvalidArgumentError naming the path.
std::vector<Piece> take_pieces(CheckpointState& state);

// Makes `state` hold null at each of `paths` (tensors some rank shards), creating missing map
// entries, so that a restore has a place for them even where this rank holds no piece. Throws
// InvalidArgumentError for a path where the state holds a value of its own, or that runs through
// a leaf or past the end of a list.
void make_room(CheckpointState& state, const std::vector<StatePath>& paths);

// The manifest entries of `pieces` as they sit in `file`: one layout per piece.
std::vector<ShardedTensorLayout> layouts_of(const std::vector<Piece>& pieces,
                                            const std::string& file);
// Writes `pieces` as a cairn safetensors file whose metadata holds the XXH3 of every
// kShardBlockBytes block of every piece; fsyncs and closes it.
ManifestFile write_pieces(std::unique_ptr<WritableFile> out, const std::filesystem::path& path,
                          const std::vector<Piece>& pieces);

// The box `box` of the sharded tensor `layout`, copied from the pieces that hold it; reads and
// verifies only the blocks of those pieces that the box touches. `files` maps file names to
// open files; layout_problem and pieces_problem must have passed, and `box` be inside. Throws
// CorruptDataError naming the file on a block checksum mismatch.
Tensor read_box(const ShardedTensorLayout& layout, const Slice& box,
                const std::map<std::string, const SafetensorsFile*>& files);

// Puts `value` at `path` of `state` (the slot take_pieces left null). Throws CorruptDataError
// naming `for_errors` when the path leads nowhere.
void place(CheckpointState& state, const StatePath& path, Tensor value,
           const std::filesystem::path& for_errors);

}  // namespace cairn::checkpoint
