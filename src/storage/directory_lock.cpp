#include "storage/directory_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
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

DirectoryLock::DirectoryLock(const std::filesystem::path& dir) : lock_path_(dir / kLockFileName) {
  // O_NOFOLLOW, and a single link: the pid is never written through a link into another file.
  fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    if (errno == ELOOP) {
      throw IoError("open lock file", lock_path_, "it is a symbolic link, not cairn's lock file");
    }
    throw IoError("open lock file", lock_path_, errno);
  }
  struct stat info {};
  if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode) || info.st_nlink != 1) {
    ::close(fd_);
    throw IoError("open lock file", lock_path_,
                  "it is not a regular file with a single link, not cairn's lock file");
  }
  device_ = info.st_dev;
  inode_ = info.st_ino;
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    long pid = read_pid(fd_);
    ::close(fd_);
    if (error == EWOULDBLOCK) throw LockedError(lock_path_, pid);
    throw IoError("lock", lock_path_, error);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 ||
      ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int error = errno;
    ::close(fd_);
    throw IoError("write lock file", lock_path_, error);
  }
}

void DirectoryLock::check_held() const {
  struct stat info {};
  if (::lstat(lock_path_.c_str(), &info) != 0 || info.st_dev != device_ ||
      info.st_ino != inode_) {
    throw LockLostError(lock_path_);
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the flock
}

std::optional<long> DirectoryLock::holder(const std::filesystem::path& dir) {
  const std::filesystem::path lock_path = dir / kLockFileName;
  int fd = ::open(lock_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;  // no lock file: nobody ever wrote here
  std::optional<long> holder;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) holder = read_pid(fd);
  }
  ::close(fd);
  return holder;
}

}  // namespace cairn::storage
