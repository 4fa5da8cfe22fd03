// One writer per serialization directory.
//
// The lock is an flock(2) on <dir>/cairn.lock, which holds the holder's pid for error messages.
// The kernel drops an flock when its holder dies, so a lock left by a crashed process is free
// at once. Readers never take the lock.
#pragma once

#include <filesystem>
#include <optional>

namespace cairn::storage {

inline constexpr const char* kLockFileName = "cairn.lock";

class DirectoryLock {
 public:
  // Takes the lock of `dir` (which must exist). Throws LockedError naming the holder's pid when
  // another writer (another process, or another object in this one) holds it; IoError when the
  // lock file cannot be opened.
  explicit DirectoryLock(const std::filesystem::path& dir);
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  ~DirectoryLock();  // releases the lock

  // The pid of the writer holding `dir`'s lock, if one does (0 when its pid is unknown).
  static std::optional<long> holder(const std::filesystem::path& dir);

 private:
  int fd_ = -1;
};

}  // namespace cairn::storage
