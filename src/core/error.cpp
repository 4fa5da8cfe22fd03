#include "cairn/error.hpp"

#include <cstring>
#include <string>

namespace cairn {
namespace {

std::string describe(std::string_view operation, const std::filesystem::path& path,
                     const std::string& reason) {
  std::string message(operation);
  message += ' ';
  message += path.string();
  message += ": ";
  message += reason;
  return message;
}

}  // namespace

CorruptDataError::CorruptDataError(const std::filesystem::path& path, const std::string& reason)
    : Error(path.string() + ": " + reason, path) {}

IoError::IoError(std::string_view operation, const std::filesystem::path& path, int error_code)
    : Error(describe(operation, path, std::strerror(error_code)), path), error_code_(error_code) {}

IoError::IoError(std::string_view operation, const std::filesystem::path& path, int error_code,
                 const std::string& detail)
    : Error(describe(operation, path, std::string(std::strerror(error_code)) + ": " + detail), path),
      error_code_(error_code) {}

IoError::IoError(std::string_view operation, const std::filesystem::path& path,
                 const std::string& reason)
    : Error(describe(operation, path, reason), path) {}

LockedError::LockedError(const std::filesystem::path& lock_path, long holder_pid)
    : Error(lock_path.parent_path().string() + ": locked by " +
                (holder_pid > 0 ? "pid " + std::to_string(holder_pid)
                                : std::string("another process")) +
                " (lock file " + lock_path.string() + ")",
            lock_path),
      holder_pid_(holder_pid) {}

LockLostError::LockLostError(const std::filesystem::path& lock_path)
    : LockedError(lock_path.string() + " was deleted or replaced while this writer held it; " +
                      "another writer may be saving into " + lock_path.parent_path().string() +
                      " now, so this one changes nothing more there",
                  lock_path) {}

}  // namespace cairn
