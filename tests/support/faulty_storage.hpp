// A Storage wrapper that fails the n-th storage operation with a chosen errno, the way a real
// disk fails (EIO, ENOSPC, EACCES), and counts operations and bytes read. Every call that can
// touch the disk counts as one operation: create, each append, sync, close, open, each read,
// map, mkdir, list, rename, directory sync, remove, link, symlink, readlink. exists,
// available_bytes and try_lock pass through uncounted (ForwardingStorage), as before locks went
// through the seam, so the operation numbers tests use stay the same.
#pragma once

#include <cerrno>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cairn/storage.hpp"
#include "support/forwarding_storage.hpp"

namespace cairn::testing {

class FaultyStorage final : public ForwardingStorage {
 public:
  explicit FaultyStorage(Storage& inner = local_storage()) : ForwardingStorage(inner) {}

  // Fails operation number `index` (0-based, counting from now) with `error_code`; -1: never.
  void fail_at(long index, int error_code = EIO) {
    fail_at_ = index == -1 ? -1 : operations_ + index;
    error_code_ = error_code;
  }
  long operations() const { return operations_; }
  uint64_t bytes_read() const { return bytes_read_; }
  const std::vector<std::string>& log() const { return log_; }

  // Counts one operation; throws IoError if it is the one to fail.
  void tick(const std::string& what, const std::filesystem::path& path);
  void add_bytes_read(uint64_t n) {
    const std::lock_guard<std::mutex> guard(mutex_);
    bytes_read_ += n;
  }

  std::unique_ptr<WritableFile> create_file(const std::filesystem::path& path) override;
  std::unique_ptr<ReadableFile> open_file(const std::filesystem::path& path) override;
  void create_directories(const std::filesystem::path& path) override;
  std::vector<DirEntry> list(const std::filesystem::path& dir) override;
  void rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  void sync_directory(const std::filesystem::path& dir) override;
  void remove_owned(const std::filesystem::path& path) override;
  void hard_link(const std::filesystem::path& existing,
                 const std::filesystem::path& link) override;
  void create_symlink(const std::filesystem::path& target,
                      const std::filesystem::path& link) override;
  std::filesystem::path read_symlink(const std::filesystem::path& link) override;
  uint64_t available_bytes(const std::filesystem::path& path) override;
  // Reports this many free bytes instead of the real number (nullopt: the real one).
  void set_available_bytes(std::optional<uint64_t> bytes) { available_override_ = bytes; }
  // Makes hard_link fail with EXDEV, as across filesystems, without counting as a fault.
  void refuse_hard_links(bool refuse) { refuse_hard_links_ = refuse; }

 private:
  std::mutex mutex_;  // a Storage is called from several threads: guards the counters and log
  long operations_ = 0;
  long fail_at_ = -1;
  int error_code_ = EIO;
  uint64_t bytes_read_ = 0;
  std::vector<std::string> log_;
  bool refuse_hard_links_ = false;
  std::optional<uint64_t> available_override_;
};

}  // namespace cairn::testing
