// Pins on checkpoint folders, so that a checkpoint being restored from is never deleted.
//
// A reader holds a shared lock (Storage::try_lock; flock(2) on the local disk) on the folder
// while it opens and reads the checkpoint; a writer deletes a folder only after taking an
// exclusive lock on it without waiting, and otherwise leaves the deletion for its next save. The
// kernel drops the flock of a process that dies, so a crashed reader never blocks deletion for
// good.
#pragma once

#include <filesystem>
#include <memory>

#include "cairn/storage.hpp"

namespace cairn::storage {

class FolderPin {
 public:
  FolderPin() = default;
  FolderPin(FolderPin&& other) noexcept = default;
  FolderPin& operator=(FolderPin&& other) noexcept = default;
  FolderPin(const FolderPin&) = delete;
  FolderPin& operator=(const FolderPin&) = delete;
  ~FolderPin() = default;  // releases the pin

  // A reader's pin. Waits (briefly: a writer holds its exclusive pin only across one rename) and
  // gives up after about a second with an empty pin, as when the folder does not exist: the
  // reader then reads unpinned and copes with a vanished folder as before.
  static FolderPin shared(Storage& storage, const std::filesystem::path& folder);
  // A writer's pin, taken without waiting. `busy` is set when a reader holds the folder; the pin
  // is also empty when the folder cannot be opened (it does not exist: nobody can pin it).
  static FolderPin try_exclusive(Storage& storage, const std::filesystem::path& folder,
                                 bool& busy);

  bool held() const noexcept { return lock_ != nullptr; }

 private:
  explicit FolderPin(std::unique_ptr<FileLock> lock) : lock_(std::move(lock)) {}
  std::unique_ptr<FileLock> lock_;
};

}  // namespace cairn::storage
