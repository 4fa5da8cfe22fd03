#include "checkpoint/checkpoint_files.hpp"

#include <cerrno>
#include <map>
#include <set>

#include "cairn/error.hpp"
#include "checkpoint/layout.hpp"
#include "checkpoint/box_geometry.hpp"
#include "checkpoint/shard_layouts.hpp"
#include "checkpoint/shard_pieces.hpp"
#include "checkpoint/state_file.hpp"
#include "format/safetensors_writer.hpp"

namespace cairn::checkpoint {

std::string read_manifest_text(Storage& storage, const std::filesystem::path& path) {
  std::unique_ptr<ReadableFile> file;
  try {
    file = storage.open_file(path);
  } catch (const IoError& error) {
    if (error.error_code() == ENOENT) {
      throw CorruptDataError(path, "missing (incomplete checkpoint)");
    }
    throw;
  }
  if (file->size() > kMaxManifestBytes) throw CorruptDataError(path, "manifest is too large");
  std::string text(file->size(), '\0');
  file->read_at(0, std::as_writable_bytes(std::span(text)));
  return text;
}

namespace {

// The manifest lists model.safetensors first, then training_state.safetensors (required for
// a checkpoint, absent from a best model), then the shard files its layout names, each once.
void check_file_list(const Manifest& manifest, bool require_training_state,
                     const std::filesystem::path& manifest_path) {
  std::vector<std::string> expected = {kModelFile};
  if (require_training_state) expected.push_back(kTrainingStateFile);
  std::set<std::string> shard_files;
  for (const ShardedTensorLayout& layout : manifest.sharded) {
    for (const ShardPiece& piece : layout.pieces) shard_files.insert(piece.file);
  }
  std::set<std::string> listed_shards;
  for (size_t i = 0; i < manifest.files.size(); ++i) {
    const std::string& name = manifest.files[i].name;
    const bool in_place = i < expected.size() ? name == expected[i]
                                              : shard_files.contains(name) &&
                                                    listed_shards.insert(name).second;
    if (!in_place) throw CorruptDataError(manifest_path, "manifest lists unexpected file " + name);
  }
  if (manifest.files.size() < expected.size() || listed_shards != shard_files) {
    throw CorruptDataError(manifest_path, "manifest does not list every file of the checkpoint");
  }
  if (auto problem = layout_problem(manifest.sharded)) {
    throw CorruptDataError(manifest_path, "manifest: " + *problem);
  }
}

}  // namespace

std::vector<ManifestFile> write_state_files(Storage& storage, const std::filesystem::path& dir,
                                            const State& model, const State* training) {
  std::vector<ManifestFile> files;
  for (const auto& [name, state] : {std::pair{kModelFile, &model}, {kTrainingStateFile, training}}) {
    if (state == nullptr) continue;
    files.push_back(write_state_file(storage.create_file(dir / name), dir / name, *state, {}));
  }
  return files;
}

void write_manifest_file(Storage& storage, const std::filesystem::path& dir,
                         const Manifest& manifest) {
  const std::string text = render_manifest(manifest);
  auto file = storage.create_file(dir / kManifestFile);
  file->append(std::as_bytes(std::span(text)));
  file->sync();
  file->close();
}

OpenedCheckpoint OpenedCheckpoint::open(Storage& storage, const std::filesystem::path& dir,
                                        bool require_training_state) {
  const std::filesystem::path manifest_path = dir / kManifestFile;
  OpenedCheckpoint opened;
  opened.manifest_ = parse_manifest(read_manifest_text(storage, manifest_path), manifest_path);
  opened.dir_ = dir;
  check_file_list(opened.manifest_, require_training_state, manifest_path);
  const auto& files = opened.manifest_.files;
  opened.has_training_state_ = files.size() > 1 && files[1].name == kTrainingStateFile;
  for (const ManifestFile& entry : opened.manifest_.files) {
    const std::filesystem::path path = dir / entry.name;
    try {
      auto file = SafetensorsFile::open(path, {}, storage);
      if (!file.has_tree()) throw CorruptDataError(path, "was not written by cairn");
      if (file.file_size() != entry.size) {
        throw CorruptDataError(path, "is " + std::to_string(file.file_size()) +
                                         " bytes, the manifest says " +
                                         std::to_string(entry.size));
      }
      opened.files_.push_back(std::move(file));
    } catch (const IoError& error) {
      if (error.error_code() == ENOENT) {
        throw CorruptDataError(path, "missing (incomplete checkpoint)");
      }
      throw;
    }
  }
  if (auto problem = pieces_problem(opened.manifest_.sharded, opened.files_by_name())) {
    throw CorruptDataError(manifest_path, "manifest: " + *problem);
  }
  return opened;
}

void OpenedCheckpoint::verify(size_t part, size_t parts) const {
  for (size_t i = part; i < files_.size(); i += parts) files_[i].verify();
}

CheckpointState OpenedCheckpoint::load(const SliceRequest& slices,
                                       const CheckpointState& into) const {
  CheckpointState state;
  state.model_state = files_.at(0).state_into(into.model_state);
  if (has_training_state_) state.training_state = files_[1].state_into(into.training_state);
  const auto by_name = files_by_name();
  size_t asked_for = 0;
  for (const ShardedTensorLayout& layout : manifest_.sharded) {
    if (layout.path[0] == "training_state" && !has_training_state_) continue;
    Slice box{std::vector<int64_t>(layout.global_shape.size(), 0), layout.global_shape};
    if (const auto it = slices.find(layout.path); it != slices.end()) {
      box = it->second;
      ++asked_for;
      if (!inside(box.offsets, box.shape, layout.global_shape)) {
        throw InvalidArgumentError("the box asked for sharded tensor " + format_path(layout.path) +
                                   " lies outside its global shape", dir_);
      }
    }
    place(state, layout.path, read_box(layout, box, by_name), dir_ / kManifestFile);
    state.shards[layout.path] = Shard{layout.global_shape, box.offsets};
  }
  if (asked_for != slices.size()) {
    for (const auto& [path, box] : slices) {
      if (!state.shards.contains(path)) {
        throw InvalidArgumentError("no sharded tensor " + format_path(path) + " in " + dir_.string(),
                                   dir_);
      }
    }
  }
  return state;
}

std::map<std::string, const SafetensorsFile*> OpenedCheckpoint::files_by_name() const {
  std::map<std::string, const SafetensorsFile*> by_name;
  for (size_t i = 0; i < files_.size(); ++i) by_name[manifest_.files[i].name] = &files_[i];
  return by_name;
}

OpenedCheckpoint open_published(Storage& storage, const std::filesystem::path& checkpoints_dir,
                                const std::string& folder) {
  const std::filesystem::path dir = checkpoints_dir / folder;
  const std::optional<CheckpointName> name = parse_checkpoint_name(folder);
  if (!name) throw CorruptDataError(dir, "is not named as cairn names checkpoints");
  OpenedCheckpoint opened = OpenedCheckpoint::open(storage, dir, /*require_training_state=*/true);
  const Manifest& manifest = opened.manifest();
  if (manifest.seq != name->seq || manifest.epoch != name->epoch ||
      manifest.batches_this_epoch != name->batches_this_epoch) {
    throw CorruptDataError(dir / kManifestFile, "manifest does not match the folder's name");
  }
  return opened;
}

}  // namespace cairn::checkpoint
