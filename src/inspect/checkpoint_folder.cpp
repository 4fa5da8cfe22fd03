// CheckpointFolder: opening one committed checkpoint folder and loading it, on top of
// checkpoint_files' OpenedCheckpoint (which owns every check a reader makes). verify() is
// defined in inspect/verify.cpp, beside the checks it shares with verify_path.
#include "cairn/checkpoint_folder.hpp"

#include <algorithm>
#include <cerrno>
#include <numeric>

#include "cairn/error.hpp"
#include "checkpoint/checkpoint_files.hpp"
#include "checkpoint/layout.hpp"
#include "checkpoint/manifest.hpp"
#include "checkpoint/shard_pieces.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;

CheckpointFileRole role_of(const std::string& name) {
  if (name == checkpoint::kModelFile) return CheckpointFileRole::Model;
  if (name == checkpoint::kTrainingStateFile) return CheckpointFileRole::TrainingState;
  return CheckpointFileRole::Shard;
}

}  // namespace

CheckpointFolder CheckpointFolder::open(const fs::path& folder, Storage& storage) {
  if (!storage.exists(folder)) throw IoError("open checkpoint folder", folder, ENOENT);
  const fs::path manifest_path = folder / checkpoint::kManifestFile;
  std::string text;
  try {
    text = checkpoint::read_manifest_text(storage, manifest_path);
  } catch (const IoError& error) {
    if (error.error_code() != ENOTDIR) throw;
    throw InvalidArgumentError(folder.string() + " is not a checkpoint folder (not a directory)",
                               folder);
  }
  CheckpointFolder opened;
  opened.storage_ = &storage;
  opened.path_ = folder;
  opened.manifest_ = std::make_shared<const checkpoint::Manifest>(
      checkpoint::parse_manifest(text, manifest_path));
  for (const checkpoint::ManifestFile& entry : opened.manifest_->files) {
    opened.files_.push_back(
        {entry.name, folder / entry.name, role_of(entry.name), entry.size, entry.xxh3});
  }
  return opened;
}

int64_t CheckpointFolder::seq() const noexcept { return manifest_->seq; }
int64_t CheckpointFolder::epoch() const noexcept { return manifest_->epoch; }
std::optional<int64_t> CheckpointFolder::batches_this_epoch() const noexcept {
  return manifest_->batches_this_epoch;
}
double CheckpointFolder::save_time() const noexcept { return manifest_->save_time; }
const Metrics& CheckpointFolder::metrics() const noexcept { return manifest_->metrics; }
// A checkpoint saved as the best so far says is_best too, but it keeps its training state.
bool CheckpointFolder::is_best_version() const noexcept {
  return manifest_->is_best &&
         std::none_of(files_.begin(), files_.end(), [](const CheckpointFile& file) {
           return file.role == CheckpointFileRole::TrainingState;
         });
}

uint64_t CheckpointFolder::size_bytes() const noexcept {
  return std::accumulate(files_.begin(), files_.end(), uint64_t{0},
                         [](uint64_t sum, const CheckpointFile& file) { return sum + file.size; });
}

int CheckpointFolder::shard_files() const noexcept {
  return static_cast<int>(std::count_if(files_.begin(), files_.end(), [](const CheckpointFile& file) {
    return file.role == CheckpointFileRole::Shard;
  }));
}

CheckpointState CheckpointFolder::load() const {
  // A best version lists no training state; a checkpoint must.
  const auto opened = checkpoint::OpenedCheckpoint::open(*storage_, path_, !is_best_version());
  const checkpoint::Manifest& manifest = opened.manifest();
  if (auto name = checkpoint::parse_checkpoint_name(path_.filename().string());
      name && (name->seq != manifest.seq || name->epoch != manifest.epoch ||
               name->batches_this_epoch != manifest.batches_this_epoch)) {
    throw CorruptDataError(path_ / checkpoint::kManifestFile,
                           "manifest does not match the folder's name");
  }
  return opened.load();
}

std::vector<CheckpointFile> CheckpointFolder::find_state_files(const fs::path& folder,
                                                               Storage& storage) {
  std::vector<std::string> names;
  std::vector<std::string> shards;
  for (const DirEntry& entry : storage.list(folder)) {
    if (entry.is_directory) continue;
    if (entry.name == checkpoint::kModelFile || entry.name == checkpoint::kTrainingStateFile) {
      names.push_back(entry.name);
    } else if (entry.name.starts_with(checkpoint::kShardFilePrefix) &&
               entry.name.ends_with(".safetensors")) {
      shards.push_back(entry.name);
    }
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return role_of(a) < role_of(b);  // the model first
  });
  std::sort(shards.begin(), shards.end());
  names.insert(names.end(), shards.begin(), shards.end());
  std::vector<CheckpointFile> files;
  for (const std::string& name : names) {
    const fs::path path = folder / name;
    files.push_back({name, path, role_of(name), storage.open_file(path)->size(), 0});
  }
  return files;
}

}  // namespace cairn
