// The local POSIX filesystem behind the Storage seam.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <utility>

#include "cairn/error.hpp"
#include "cairn/storage.hpp"
#include "storage/atomic_file.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  // Closes now and reports the result (close can reveal a failed delayed write).
  int reset() {
    int result = 0;
    if (fd_ >= 0) result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

class LocalWritableFile final : public WritableFile {
 public:
  LocalWritableFile(fs::path path, int fd) : path_(std::move(path)), fd_(fd) {}

  void append(std::span<const std::span<const std::byte>> buffers) override {
    std::vector<iovec> pending;
    pending.reserve(std::min<size_t>(buffers.size(), IOV_MAX));
    size_t next = 0;
    while (next < buffers.size() || !pending.empty()) {
      while (next < buffers.size() && pending.size() < IOV_MAX) {
        auto bytes = buffers[next++];
        if (!bytes.empty()) {
          pending.push_back({const_cast<std::byte*>(bytes.data()), bytes.size()});
        }
      }
      if (pending.empty()) break;
      ssize_t written = ::writev(fd_.get(), pending.data(), static_cast<int>(pending.size()));
      if (written < 0) {
        if (errno == EINTR) continue;
        throw IoError("write", path_, errno);
      }
      drop_written(pending, static_cast<size_t>(written));
    }
  }

  void sync() override {
    if (::fsync(fd_.get()) != 0) throw IoError("fsync", path_, errno);
  }

  void close() override {
    if (fd_.reset() != 0) throw IoError("close", path_, errno);
  }

 private:
  // Removes fully written buffers and advances a partly written one.
  static void drop_written(std::vector<iovec>& pending, size_t written) {
    size_t done = 0;
    while (done < pending.size() && written >= pending[done].iov_len) {
      written -= pending[done].iov_len;
      ++done;
    }
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(done));
    if (written > 0) {
      pending.front().iov_base = static_cast<char*>(pending.front().iov_base) + written;
      pending.front().iov_len -= written;
    }
  }

  fs::path path_;
  FileDescriptor fd_;
};

// How LocalStorage maps files: read-only and shared, or private and writable (copy-on-write).
enum class Mapping { kReadOnly, kCopyOnWrite };

class LocalMappedRegion final : public MappedRegion {
 public:
  LocalMappedRegion(void* address, size_t size, Mapping mapping)
      : address_(address), size_(size), mapping_(mapping) {}
  ~LocalMappedRegion() override {
    if (size_ > 0) ::munmap(address_, size_);
  }
  std::span<const std::byte> bytes() const noexcept override {
    return {static_cast<const std::byte*>(address_), size_};
  }
  std::span<std::byte> writable_bytes() const noexcept override {
    if (mapping_ != Mapping::kCopyOnWrite) return {};
    return {static_cast<std::byte*>(address_), size_};
  }

 private:
  void* address_;
  size_t size_;
  Mapping mapping_;
};

class LocalReadableFile final : public ReadableFile {
 public:
  LocalReadableFile(fs::path path, int fd, uint64_t size, Mapping mapping)
      : path_(std::move(path)), fd_(fd), size_(size), mapping_(mapping) {}

  uint64_t size() const override { return size_; }

  void read_at(uint64_t offset, std::span<std::byte> buffer) const override {
    size_t done = 0;
    while (done < buffer.size()) {
      ssize_t got = ::pread(fd_.get(), buffer.data() + done, buffer.size() - done,
                            static_cast<off_t>(offset + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        throw IoError("read", path_, errno);
      }
      if (got == 0) {
        throw CorruptDataError(path_, "unexpected end of file at byte " +
                                          std::to_string(offset + done));
      }
      done += static_cast<size_t>(got);
    }
  }

  std::shared_ptr<const MappedRegion> map() const override {
    if (size_ == 0) return std::make_shared<LocalMappedRegion>(nullptr, 0, mapping_);
    // A private writable mapping of a file opened read-only is allowed: writes never reach it.
    // MAP_NORESERVE: no commit charge for the whole file; pages are claimed as they are written.
    void* address = mapping_ == Mapping::kCopyOnWrite
                        ? ::mmap(nullptr, size_, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_NORESERVE, fd_.get(), 0)
                        : ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_.get(), 0);
    if (address == MAP_FAILED) throw IoError("mmap", path_, errno);
    return std::make_shared<LocalMappedRegion>(address, size_, mapping_);
  }

 private:
  fs::path path_;
  FileDescriptor fd_;
  uint64_t size_;
  Mapping mapping_;
};

// Removes the entry `name` of the open directory `dir_fd`: a file or a symbolic link itself by
// unlinkat, a directory by emptying it through its own descriptor (opened O_NOFOLLOW, so a link
// swapped in meanwhile is not entered) and then unlinkat. `device` is the filesystem it must stay
// on; `path` names the entry in errors.
void remove_entry_at(int dir_fd, const std::string& name, dev_t device, const fs::path& path) {
  struct stat info {};
  if (::fstatat(dir_fd, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return;
    throw IoError("stat", path, errno);
  }
  if (!S_ISDIR(info.st_mode)) {
    if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      throw IoError("remove", path, errno);
    }
    return;
  }
  if (info.st_dev != device) {
    throw IoError("refusing to delete", path, "it is on another filesystem (a mount point)");
  }
  const int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw IoError("open directory", path, errno);
  DIR* listing = ::fdopendir(fd);
  if (listing == nullptr) {
    const int error = errno;
    ::close(fd);
    throw IoError("list", path, error);
  }
  std::vector<std::string> children;
  errno = 0;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string_view child = entry->d_name;
    if (child != "." && child != "..") children.emplace_back(child);
  }
  const int list_error = errno;
  try {
    if (list_error != 0) throw IoError("list", path, list_error);
    for (const std::string& child : children) {
      remove_entry_at(::dirfd(listing), child, device, path / child);
    }
  } catch (...) {
    ::closedir(listing);
    throw;
  }
  ::closedir(listing);
  if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    throw IoError("remove", path, errno);
  }
}

// An flock(2) held through an open descriptor: closing the only descriptor releases it.
class LocalFileLock final : public FileLock {
 public:
  LocalFileLock(fs::path path, FileDescriptor fd, dev_t device, ino_t inode)
      : path_(std::move(path)), fd_(std::move(fd)), device_(device), inode_(inode) {}

  bool still_at_path() const override {
    struct stat info {};
    return ::lstat(path_.c_str(), &info) == 0 && info.st_dev == device_ && info.st_ino == inode_;
  }

  void write_note(std::string_view note) override {
    if (::ftruncate(fd_.get(), 0) != 0 ||
        ::pwrite(fd_.get(), note.data(), note.size(), 0) != static_cast<ssize_t>(note.size())) {
      throw IoError("write lock file", path_, errno);
    }
  }

 private:
  fs::path path_;
  FileDescriptor fd_;
  dev_t device_;
  ino_t inode_;
};

// The first bytes of what the file open at `fd` holds (nothing for a folder).
std::string read_note(int fd) {
  char text[64] = {};
  const ssize_t got = ::pread(fd, text, sizeof(text), 0);
  return got > 0 ? std::string(text, static_cast<size_t>(got)) : std::string();
}

class LocalStorage final : public Storage {
 public:
  explicit LocalStorage(Mapping mapping) : mapping_(mapping) {}

  std::unique_ptr<WritableFile> create_file(const fs::path& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) throw IoError("create", path, errno);
    return std::make_unique<LocalWritableFile>(path, fd);
  }

  std::unique_ptr<ReadableFile> open_file(const fs::path& path) override {
    // O_NOATIME: reading must not dirty the inode (an access-time update of a file just written
    // waits for the journal, milliseconds after a large save); refused (EPERM) on files of
    // another owner, then opened without it.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError("open", path, errno);
    FileDescriptor guard(fd);
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw IoError("stat", path, errno);
    if (!S_ISREG(info.st_mode)) throw IoError("open", path, "not a regular file");
    return std::make_unique<LocalReadableFile>(path, guard.release(),
                                               static_cast<uint64_t>(info.st_size), mapping_);
  }

  void create_directories(const fs::path& path) override {
    std::error_code error;
    fs::create_directories(path, error);
    if (error) throw IoError("mkdir", path, error.value());
  }

  std::vector<DirEntry> list(const fs::path& dir) override {
    std::vector<DirEntry> entries;
    std::error_code error;
    fs::directory_iterator it(dir, error);
    if (error) throw IoError("list", dir, error.value());
    for (; it != fs::directory_iterator(); it.increment(error)) {
      if (error) break;
      std::error_code type_error;
      bool is_directory = it->is_directory(type_error) && !it->is_symlink(type_error);
      entries.push_back({it->path().filename().string(), is_directory});
    }
    if (error) throw IoError("list", dir, error.value());
    return entries;
  }

  bool exists(const fs::path& path) override {
    std::error_code error;
    auto status = fs::symlink_status(path, error);
    if (error && error != std::errc::no_such_file_or_directory) {
      throw IoError("stat", path, error.value());
    }
    return fs::exists(status);
  }

  void rename(const fs::path& from, const fs::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      throw IoError("rename " + from.string() + " to", to, errno);
    }
  }

  void sync_directory(const fs::path& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw IoError("open directory", dir, errno);
    FileDescriptor guard(fd);
    if (::fsync(fd) != 0) throw IoError("fsync directory", dir, errno);
  }

  void remove_owned(const fs::path& path) override {
    const std::string name = path.filename().string();
    if (!storage::is_plain_name(name)) {
      throw IoError("refusing to delete", path, "not a plain name inside a folder");
    }
    const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
    // A temporary of ours lies beside the file it replaces, in a folder the caller chose (which
    // may be reached through a link); anything else must lie in a folder cairn marked, and
    // O_NOFOLLOW makes sure a symbolic link put where that folder was is never entered.
    const bool temporary = storage::is_own_temporary(name);
    FileDescriptor dir(::open(parent.c_str(),
                              O_RDONLY | O_DIRECTORY | O_CLOEXEC | (temporary ? 0 : O_NOFOLLOW)));
    if (dir.get() < 0) {
      if (errno == ENOENT) return;
      if (errno == ELOOP || errno == ENOTDIR) {
        throw IoError("refusing to delete", path,
                      parent.string() + " is a symbolic link or not a folder, not cairn's own");
      }
      throw IoError("open directory", parent, errno);
    }
    if (!temporary) {
      struct stat marker {};
      if (::fstatat(dir.get(), kOwnerMarker, &marker, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISREG(marker.st_mode)) {
        throw IoError("refusing to delete", path,
                      parent.string() + " was not created by cairn (it holds no " + kOwnerMarker +
                          " marker)");
      }
    }
    struct stat parent_info {};
    if (::fstat(dir.get(), &parent_info) != 0) throw IoError("stat", parent, errno);
    remove_entry_at(dir.get(), name, parent_info.st_dev, path);
  }

  void hard_link(const fs::path& existing, const fs::path& link) override {
    if (::link(existing.c_str(), link.c_str()) != 0) {
      throw IoError("link " + existing.string() + " as", link, errno);
    }
  }

  void create_symlink(const fs::path& target, const fs::path& link) override {
    if (::symlink(target.c_str(), link.c_str()) != 0) {
      throw IoError("symlink " + target.string() + " as", link, errno);
    }
  }

  fs::path read_symlink(const fs::path& link) override {
    std::error_code error;
    fs::path target = fs::read_symlink(link, error);
    if (error) throw IoError("readlink", link, error.value());
    return target;
  }

  uint64_t available_bytes(const fs::path& path) override {
    struct statvfs info {};
    if (::statvfs(path.c_str(), &info) != 0) throw IoError("statvfs", path, errno);
    return static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
  }

  LockAttempt try_lock(const fs::path& path, LockMode mode, LockTarget target) override {
    const bool lock_file = target == LockTarget::kLockFile;
    // O_NOFOLLOW: a link put at `path` is never locked, nor written through.
    const int flags = lock_file ? O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC
                                : O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
    FileDescriptor fd(::open(path.c_str(), flags, 0666));
    const std::string operation = lock_file ? "open lock file" : "open";
    if (fd.get() < 0) {
      if (!lock_file && errno == ENOENT) return {};
      if (errno == ELOOP) {
        throw IoError(operation, path, lock_file ? "it is a symbolic link, not cairn's lock file"
                                                 : "it is a symbolic link");
      }
      throw IoError(operation, path, errno);
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) throw IoError("stat", path, errno);
    if (lock_file && (!S_ISREG(info.st_mode) || info.st_nlink != 1)) {
      throw IoError(operation, path,
                    "it is not a regular file with a single link, not cairn's lock file");
    }
    if (!lock_file && !S_ISREG(info.st_mode) && !S_ISDIR(info.st_mode)) {
      throw IoError(operation, path, "not a regular file nor a folder");
    }
    const int operation_flags = (mode == LockMode::kExclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
    int result = 0;
    do {
      result = ::flock(fd.get(), operation_flags);
    } while (result != 0 && errno == EINTR);
    if (result != 0) {
      const int error = errno;
      if (error == EWOULDBLOCK) return {nullptr, true, read_note(fd.get())};
      throw IoError("lock", path, error);
    }
    return {std::make_unique<LocalFileLock>(path, std::move(fd), info.st_dev, info.st_ino), false,
            {}};
  }

 private:
  Mapping mapping_;
};

}  // namespace

Storage& local_storage() {
  static LocalStorage storage(Mapping::kReadOnly);
  return storage;
}

Storage& copy_on_write_local_storage() {
  static LocalStorage storage(Mapping::kCopyOnWrite);
  return storage;
}

}  // namespace cairn
