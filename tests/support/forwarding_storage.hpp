// A Storage that passes every call to another one: a base for test storages that change only a
// few calls (override those, call ForwardingStorage's for the rest).
#pragma once

#include "cairn/storage.hpp"

namespace cairn::testing {

class ForwardingStorage : public Storage {
 public:
  explicit ForwardingStorage(Storage& inner = local_storage()) : inner_(inner) {}

  std::unique_ptr<WritableFile> create_file(const std::filesystem::path& path) override {
    return inner_.create_file(path);
  }
  std::unique_ptr<ReadableFile> open_file(const std::filesystem::path& path) override {
    return inner_.open_file(path);
  }
  void create_directories(const std::filesystem::path& path) override { inner_.create_directories(path); }
  std::vector<DirEntry> list(const std::filesystem::path& dir) override { return inner_.list(dir); }
  bool exists(const std::filesystem::path& path) override { return inner_.exists(path); }
  void rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    inner_.rename(from, to);
  }
  void sync_directory(const std::filesystem::path& dir) override { inner_.sync_directory(dir); }
  void remove_owned(const std::filesystem::path& path) override { inner_.remove_owned(path); }
  void hard_link(const std::filesystem::path& existing, const std::filesystem::path& link) override {
    inner_.hard_link(existing, link);
  }
  void create_symlink(const std::filesystem::path& target, const std::filesystem::path& link) override {
    inner_.create_symlink(target, link);
  }
  std::filesystem::path read_symlink(const std::filesystem::path& link) override {
    return inner_.read_symlink(link);
  }
  uint64_t available_bytes(const std::filesystem::path& path) override {
    return inner_.available_bytes(path);
  }
  LockAttempt try_lock(const std::filesystem::path& path, LockMode mode,
                       LockTarget target) override {
    return inner_.try_lock(path, mode, target);
  }

 protected:
  Storage& inner() const noexcept { return inner_; }

 private:
  Storage& inner_;
};

}  // namespace cairn::testing
