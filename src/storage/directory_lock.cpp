#include "storage/directory_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "cairn/error.hpp"

namespace cairn::storage {
namespace {

long read_pid(int fd) {
  char text[32] = {};
  ssize_t got = ::pread(fd, text, sizeof(text) - 1, 0);
  if (got <= 0) return 0;
  return std::strtol(text, nullptr, 10);
}

}  // namespace

DirectoryLock::DirectoryLock(const std::filesystem::path& dir) {
  const std::filesystem::path lock_path = dir / kLockFileName;
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ < 0) throw IoError("open lock file", lock_path, errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    long pid = read_pid(fd_);
    ::close(fd_);
    if (error == EWOULDBLOCK) throw LockedError(lock_path, pid);
    throw IoError("lock", lock_path, error);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 ||
      ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int error = errno;
    ::close(fd_);
    throw IoError("write lock file", lock_path, error);
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the flock
}

std::optional<long> DirectoryLock::holder(const std::filesystem::path& dir) {
  const std::filesystem::path lock_path = dir / kLockFileName;
  int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;  // no lock file: nobody ever wrote here
  std::optional<long> holder;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) holder = read_pid(fd);
  }
  ::close(fd);
  return holder;
}

}  // namespace cairn::storage
