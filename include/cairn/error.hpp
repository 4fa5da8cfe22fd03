// Errors raised by cairn. Every error names the path (when there is one) and the reason.
//
// Callers can tell the kinds apart and react differently:
//   CorruptDataError      the data is bad (checksum mismatch, truncated, malformed): fall back to
//                         an older checkpoint
//   IoError               the system refused (disk full, permission, missing file): retry or fix
//                         the environment; errno is kept
//   LockedError           another writer holds the serialization directory (LockLostError: this
//                         writer's lock file was deleted or replaced under it)
//   InvalidArgumentError  the call or the configuration is wrong (includes wrong-type access to a
//                         State)
//   RankError             in a multi-rank save or restore, another rank failed or did not arrive
//                         in time; nothing was published
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace cairn {

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, std::filesystem::path path = {})
      : std::runtime_error(message), path_(std::move(path)) {}
  // The file or directory the error is about; empty when there is none.
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

class CorruptDataError : public Error {
 public:
  // Message: "<path>: <reason>".
  CorruptDataError(const std::filesystem::path& path, const std::string& reason);
};

class IoError : public Error {
 public:
  // Message: "<operation> <path>: <strerror(error_code)>".
  IoError(std::string_view operation, const std::filesystem::path& path, int error_code);
  // Message: "<operation> <path>: <strerror(error_code)>: <detail>".
  IoError(std::string_view operation, const std::filesystem::path& path, int error_code,
          const std::string& detail);
  // Message: "<operation> <path>: <reason>" for failures that have no errno.
  IoError(std::string_view operation, const std::filesystem::path& path, const std::string& reason);
  int error_code() const noexcept { return error_code_; }

 private:
  int error_code_ = 0;
};

class LockedError : public Error {
 public:
  LockedError(const std::filesystem::path& lock_path, long holder_pid);
  long holder_pid() const noexcept { return holder_pid_; }  // 0 when unknown

 protected:
  LockedError(const std::string& message, const std::filesystem::path& lock_path)
      : Error(message, lock_path), holder_pid_(0) {}

 private:
  long holder_pid_;
};

// The writer's lock file was deleted or replaced while the writer held it: another writer may
// hold the directory now, so this one changes nothing more in it.
class LockLostError : public LockedError {
 public:
  explicit LockLostError(const std::filesystem::path& lock_path);
};

class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

class RankError : public Error {
 public:
  using Error::Error;
};

}  // namespace cairn
