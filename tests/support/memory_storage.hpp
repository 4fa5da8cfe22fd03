// A Storage held in memory: a whole tree of folders, files, hard links, symbolic links and locks,
// for tests and fuzz targets that must not touch the disk, and the second opinion beside the
// local disk in the conformance suite (tests/test_storage_conformance.cpp).
//
// Where it differs from the local disk, as storage.hpp's "Variation:" notes allow:
// - nothing is ever lost, so sync() and sync_directory() only check their target;
// - there are no mounted filesystems: remove_owned never meets one, hard_link never gets EXDEV;
// - available_bytes is what is left of `capacity`, and a write beyond it fails with ENOSPC;
// - locks are seen by this process only (through this object), released when the FileLock goes;
// - map() gives a read-only copy of the file's bytes (no copy-on-write, writable_bytes empty);
// - a relative path is taken from the root (there is no working directory).
// Thread-safe: one mutex guards the tree; files and locks keep the tree alive.
#pragma once

#include <cstdint>
#include <memory>

#include "cairn/storage.hpp"

namespace cairn::testing {

class MemoryStorage final : public Storage {
 public:
  explicit MemoryStorage(uint64_t capacity = uint64_t{1} << 40);
  ~MemoryStorage() override;

  std::unique_ptr<WritableFile> create_file(const std::filesystem::path& path) override;
  std::unique_ptr<ReadableFile> open_file(const std::filesystem::path& path) override;
  void create_directories(const std::filesystem::path& path) override;
  std::vector<DirEntry> list(const std::filesystem::path& dir) override;
  bool exists(const std::filesystem::path& path) override;
  void rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  void sync_directory(const std::filesystem::path& dir) override;
  void remove_owned(const std::filesystem::path& path) override;
  void hard_link(const std::filesystem::path& existing, const std::filesystem::path& link) override;
  void create_symlink(const std::filesystem::path& target,
                      const std::filesystem::path& link) override;
  std::filesystem::path read_symlink(const std::filesystem::path& link) override;
  uint64_t available_bytes(const std::filesystem::path& path) override;
  LockAttempt try_lock(const std::filesystem::path& path, LockMode mode,
                       LockTarget target) override;

  struct Tree;  // the state, shared with the files and locks handed out

 private:
  std::shared_ptr<Tree> tree_;
};

}  // namespace cairn::testing
