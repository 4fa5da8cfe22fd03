#include "storage/staging.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <utility>

#include "cairn/error.hpp"
#include "storage/atomic_file.hpp"
#include "storage/folder_pin.hpp"

namespace cairn::storage {

StagedFolder::StagedFolder(Storage& storage, std::filesystem::path staging_dir,
                           std::filesystem::path folder)
    : storage_(&storage), staging_dir_(std::move(staging_dir)), folder_(std::move(folder)) {}

StagedFolder::StagedFolder(StagedFolder&& other) noexcept
    : storage_(other.storage_),
      staging_dir_(std::move(other.staging_dir_)),
      folder_(std::move(other.folder_)),
      owned_(std::exchange(other.owned_, false)) {}

StagedFolder::~StagedFolder() {
  if (owned_) cleanup_quietly([&] { storage_->remove_all(folder_); });
}

std::unique_ptr<WritableFile> StagedFolder::create_file(std::string_view name) {
  return storage_->create_file(folder_ / name);
}

void StagedFolder::publish(const std::filesystem::path& destination) {
  if (!owned_) throw InvalidArgumentError("staged folder was already published", folder_);
  if (storage_->exists(destination)) {
    throw InvalidArgumentError("cannot publish over existing " + destination.string(),
                               destination);
  }
  storage_->sync_directory(folder_);
  storage_->rename(folder_, destination);
  owned_ = false;
  storage_->sync_directory(destination.parent_path());
  storage_->sync_directory(staging_dir_);
}

StagingArea::StagingArea(Storage& storage, const std::filesystem::path& serialization_dir)
    : storage_(storage), staging_dir_(serialization_dir / kStagingDirName) {}

namespace {

// "<name>.<pid>.<n>": unique among this process's staging folders, and across processes.
std::string unique_name(std::string_view name) {
  static std::atomic<unsigned long> counter{0};
  return std::string(name) + "." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

}  // namespace

StagedFolder StagingArea::begin(std::string_view name) {
  storage_.create_directories(staging_dir_);
  std::filesystem::path folder = staging_dir_ / unique_name(name);
  storage_.remove_all(folder);  // a leftover of a crashed process that had our pid
  storage_.create_directories(folder);
  return StagedFolder(storage_, staging_dir_, folder);
}

void StagingArea::discard(const std::filesystem::path& folder) {
  if (!storage_.exists(folder)) return;
  storage_.create_directories(staging_dir_);
  const std::filesystem::path retired =
      staging_dir_ / unique_name("discarded-" + folder.filename().string());
  storage_.rename(folder, retired);
  storage_.remove_all(retired);
}

bool StagingArea::discard_unless_pinned(const std::filesystem::path& folder) {
  bool busy = false;
  FolderPin pin = FolderPin::try_exclusive(folder, busy);
  if (busy) return false;
  discard(folder);  // the rename happens under the pin; a reader that pins later finds it gone
  return true;
}

std::vector<std::filesystem::path> StagingArea::remove_leftovers() {
  std::vector<std::filesystem::path> removed;
  if (!storage_.exists(staging_dir_)) return removed;
  for (const DirEntry& entry : storage_.list(staging_dir_)) {
    std::filesystem::path leftover = staging_dir_ / entry.name;
    storage_.remove_all(leftover);
    removed.push_back(std::move(leftover));
  }
  if (!removed.empty()) storage_.sync_directory(staging_dir_);
  return removed;
}

}  // namespace cairn::storage
