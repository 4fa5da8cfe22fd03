#include "storage/folder_pin.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace cairn::storage {
namespace {

int open_folder(const std::filesystem::path& folder) {
  return ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

}  // namespace

FolderPin::FolderPin(FolderPin&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FolderPin& FolderPin::operator=(FolderPin&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FolderPin::~FolderPin() {
  if (fd_ >= 0) ::close(fd_);
}

FolderPin FolderPin::shared(const std::filesystem::path& folder) {
  const int fd = open_folder(folder);
  if (fd < 0) return FolderPin();
  constexpr int kAttempts = 1000;  // 1 ms apart
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (::flock(fd, LOCK_SH | LOCK_NB) == 0) return FolderPin(fd);
    if (errno != EWOULDBLOCK && errno != EINTR) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::close(fd);
  return FolderPin();
}

FolderPin FolderPin::try_exclusive(const std::filesystem::path& folder, bool& busy) {
  busy = false;
  const int fd = open_folder(folder);
  if (fd < 0) return FolderPin();
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return FolderPin(fd);
  busy = errno == EWOULDBLOCK;
  ::close(fd);
  return FolderPin();
}

}  // namespace cairn::storage
