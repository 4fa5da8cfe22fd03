// One writer per serialization directory.
//
// The lock is an exclusive lock (Storage::try_lock; flock(2) on the local disk) on
// <dir>/cairn.lock, which holds the holder's pid for error messages. The kernel drops an flock
// when its holder dies, so a lock left by a crashed process is free at once. Readers never take
// the lock. The lock file is opened without following a symbolic link and must have a single
// link. A lock belongs to a file, not a name: if cairn.lock is deleted or replaced, a second
// writer can lock the new file, so the holder checks before every change that the name still
// leads to its file (check_held) and stops otherwise.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "cairn/storage.hpp"

namespace cairn::storage {

inline constexpr const char* kLockFileName = "cairn.lock";

class DirectoryLock {
 public:
  // Takes the lock of `dir` (which must exist) through `storage`. Throws LockedError naming the
  // holder's pid when another writer (another process, or another object in this one) holds it;
  // IoError when the lock file cannot be opened.
  DirectoryLock(Storage& storage, const std::filesystem::path& dir);
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  ~DirectoryLock();  // releases the lock

  // Throws LockLostError when cairn.lock is no longer the file this lock holds (deleted, or
  // replaced): a second writer may have locked the new one, so this one must stop writing. Call
  // before every step that changes the directory (ledger, publish, deletions).
  void check_held() const;

  // The pid of the writer holding `dir`'s lock, if one does (0 when its pid is unknown).
  static std::optional<long> holder(Storage& storage, const std::filesystem::path& dir);

 private:
  std::filesystem::path lock_path_;
  std::unique_ptr<FileLock> lock_;
};

}  // namespace cairn::storage
