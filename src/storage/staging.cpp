#include "storage/staging.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <utility>

#include "cairn/error.hpp"
#include "storage/atomic_file.hpp"
#include "storage/folder_pin.hpp"
#include "storage/owned_folder.hpp"

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
  if (owned_) cleanup_quietly([&] { storage_->remove_owned(folder_); });
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

// "<name>.<pid>.<n>", as unique_name makes them: what a staging/ from before the owner marker
// holds after a crash.
bool is_staged_folder(const DirEntry& entry) {
  if (!entry.is_directory) return false;
  const std::string_view name = entry.name;
  const size_t last = name.rfind('.');
  if (last == std::string_view::npos || last == 0) return false;
  const size_t middle = name.rfind('.', last - 1);
  auto digits = [](std::string_view text) {
    return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return middle != std::string_view::npos && middle > 0 &&
         digits(name.substr(middle + 1, last - middle - 1)) && digits(name.substr(last + 1));
}

}  // namespace

void StagingArea::claim() { claim_folder(storage_, staging_dir_, is_staged_folder); }

StagedFolder StagingArea::begin(std::string_view name) {
  claim();
  std::filesystem::path folder = staging_dir_ / unique_name(name);
  storage_.remove_owned(folder);  // a leftover of a crashed process that had our pid
  storage_.create_directories(folder);
  return StagedFolder(storage_, staging_dir_, folder);
}

void StagingArea::discard(const std::filesystem::path& folder) {
  if (!storage_.exists(folder)) return;
  claim();
  const std::filesystem::path retired =
      staging_dir_ / unique_name("discarded-" + folder.filename().string());
  storage_.rename(folder, retired);
  storage_.remove_owned(retired);
}

bool StagingArea::discard_unless_pinned(const std::filesystem::path& folder) {
  bool busy = false;
  FolderPin pin = FolderPin::try_exclusive(storage_, folder, busy);
  if (busy) return false;
  discard(folder);  // the rename happens under the pin; a reader that pins later finds it gone
  return true;
}

std::vector<StagingArea::Leftover> StagingArea::remove_leftovers() {
  std::vector<Leftover> leftovers;
  if (!storage_.exists(staging_dir_)) return leftovers;
  claim();
  for (const DirEntry& entry : storage_.list(staging_dir_)) {
    if (entry.name == kOwnerMarker) continue;
    Leftover leftover{staging_dir_ / entry.name, {}};
    try {
      storage_.remove_owned(leftover.path);
    } catch (const IoError& error) {
      leftover.refusal = error.what();
    }
    leftovers.push_back(std::move(leftover));
  }
  if (!leftovers.empty()) storage_.sync_directory(staging_dir_);
  return leftovers;
}

}  // namespace cairn::storage
