#include "storage/directory_lock.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "cairn/error.hpp"

namespace cairn::storage {
namespace {

long parse_pid(const std::string& note) { return std::strtol(note.c_str(), nullptr, 10); }

}  // namespace

DirectoryLock::DirectoryLock(Storage& storage, const std::filesystem::path& dir)
    : lock_path_(dir / kLockFileName) {
  LockAttempt attempt = storage.try_lock(lock_path_, LockMode::kExclusive, LockTarget::kLockFile);
  if (attempt.busy) throw LockedError(lock_path_, parse_pid(attempt.holder_note));
  lock_ = std::move(attempt.lock);
  lock_->write_note(std::to_string(::getpid()) + "\n");  // on failure, lock_ releases the lock
}

void DirectoryLock::check_held() const {
  if (!lock_->still_at_path()) throw LockLostError(lock_path_);
}

DirectoryLock::~DirectoryLock() = default;

std::optional<long> DirectoryLock::holder(Storage& storage, const std::filesystem::path& dir) {
  LockAttempt attempt;
  try {
    attempt = storage.try_lock(dir / kLockFileName, LockMode::kShared, LockTarget::kExisting);
  } catch (const IoError&) {
    return std::nullopt;  // no readable lock file: nobody holds the directory through it
  }
  if (!attempt.busy) return std::nullopt;  // no lock file, or a free one (released on return)
  return parse_pid(attempt.holder_note);
}

}  // namespace cairn::storage
