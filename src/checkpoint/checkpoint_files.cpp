#include "checkpoint/checkpoint_files.hpp"

#include <cerrno>

#include "cairn/error.hpp"
#include "checkpoint/layout.hpp"
#include "format/checksum.hpp"

namespace cairn::checkpoint {
namespace {

// Counts and hashes every byte on its way to the file, so the manifest needs no second read.
class HashingFile final : public WritableFile {
 public:
  explicit HashingFile(std::unique_ptr<WritableFile> inner) : inner_(std::move(inner)) {}
  void append(std::span<const std::span<const std::byte>> buffers) override {
    for (const auto& buffer : buffers) {
      hash_.update(buffer);
      size_ += buffer.size();
    }
    inner_->append(buffers);
  }
  void sync() override { inner_->sync(); }
  void close() override { inner_->close(); }
  uint64_t size() const { return size_; }
  uint64_t digest() const { return hash_.digest(); }

 private:
  std::unique_ptr<WritableFile> inner_;
  format::Xxh3Stream hash_;
  uint64_t size_ = 0;
};

ManifestFile write_one(storage::StagedFolder& folder, const char* name, const State& state) {
  HashingFile file(folder.create_file(name));
  write_safetensors(file, state, {}, folder.path() / name);
  file.sync();
  file.close();
  return {name, file.size(), file.digest()};
}

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

}  // namespace

Manifest write_checkpoint_files(storage::StagedFolder& folder, Manifest manifest,
                                const State& model, const State* training) {
  manifest.files.clear();
  manifest.files.push_back(write_one(folder, kModelFile, model));
  if (training != nullptr) {
    manifest.files.push_back(write_one(folder, kTrainingStateFile, *training));
  }
  const std::string text = render_manifest(manifest);
  auto file = folder.create_file(kManifestFile);
  file->append(std::as_bytes(std::span(text)));
  file->sync();
  file->close();
  return manifest;
}

OpenedCheckpoint OpenedCheckpoint::open(Storage& storage, const std::filesystem::path& dir,
                                        bool require_training_state) {
  const std::filesystem::path manifest_path = dir / kManifestFile;
  OpenedCheckpoint opened;
  opened.manifest_ = parse_manifest(read_manifest_text(storage, manifest_path), manifest_path);
  std::vector<std::string> expected = {kModelFile};
  if (require_training_state) expected.push_back(kTrainingStateFile);
  std::vector<std::string> listed;
  for (const ManifestFile& file : opened.manifest_.files) listed.push_back(file.name);
  if (listed != expected) {
    throw CorruptDataError(manifest_path, "manifest lists unexpected files");
  }
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
  return opened;
}

void OpenedCheckpoint::verify() const {
  for (const SafetensorsFile& file : files_) file.verify();
}

CheckpointState OpenedCheckpoint::load() const {
  CheckpointState state;
  state.model_state = files_.at(0).state();
  if (files_.size() > 1) state.training_state = files_[1].state();
  return state;
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
