#include "support/faulty_storage.hpp"

#include "cairn/error.hpp"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;

class FaultyWritableFile final : public WritableFile {
 public:
  FaultyWritableFile(FaultyStorage& owner, fs::path path, std::unique_ptr<WritableFile> inner)
      : owner_(owner), path_(std::move(path)), inner_(std::move(inner)) {}

  void append(std::span<const std::span<const std::byte>> buffers) override {
    // One operation per buffer, so a failure can land between any two tensors.
    for (const auto& buffer : buffers) {
      owner_.tick("append", path_);
      inner_->append(buffer);
    }
  }
  void sync() override {
    owner_.tick("sync", path_);
    inner_->sync();
  }
  void close() override {
    owner_.tick("close", path_);
    inner_->close();
  }

 private:
  FaultyStorage& owner_;
  fs::path path_;
  std::unique_ptr<WritableFile> inner_;
};

class FaultyReadableFile final : public ReadableFile {
 public:
  FaultyReadableFile(FaultyStorage& owner, fs::path path, std::unique_ptr<ReadableFile> inner)
      : owner_(owner), path_(std::move(path)), inner_(std::move(inner)) {}

  uint64_t size() const override { return inner_->size(); }
  void read_at(uint64_t offset, std::span<std::byte> buffer) const override {
    owner_.tick("read", path_);
    owner_.add_bytes_read(buffer.size());
    inner_->read_at(offset, buffer);
  }
  std::shared_ptr<const MappedRegion> map() const override {
    owner_.tick("map", path_);
    return inner_->map();
  }

 private:
  FaultyStorage& owner_;
  fs::path path_;
  std::unique_ptr<ReadableFile> inner_;
};

}  // namespace

void FaultyStorage::tick(const std::string& what, const fs::path& path) {
  const std::lock_guard<std::mutex> guard(mutex_);
  log_.push_back(what + " " + path.string());
  if (operations_++ == fail_at_) throw IoError(what + " (injected fault)", path, error_code_);
}

std::unique_ptr<WritableFile> FaultyStorage::create_file(const fs::path& path) {
  tick("create", path);
  return std::make_unique<FaultyWritableFile>(*this, path, ForwardingStorage::create_file(path));
}

std::unique_ptr<ReadableFile> FaultyStorage::open_file(const fs::path& path) {
  tick("open", path);
  return std::make_unique<FaultyReadableFile>(*this, path, ForwardingStorage::open_file(path));
}

void FaultyStorage::create_directories(const fs::path& path) {
  tick("mkdir", path);
  ForwardingStorage::create_directories(path);
}

std::vector<DirEntry> FaultyStorage::list(const fs::path& dir) {
  tick("list", dir);
  return ForwardingStorage::list(dir);
}

void FaultyStorage::rename(const fs::path& from, const fs::path& to) {
  tick("rename", to);
  ForwardingStorage::rename(from, to);
}

void FaultyStorage::sync_directory(const fs::path& dir) {
  tick("sync_directory", dir);
  ForwardingStorage::sync_directory(dir);
}

void FaultyStorage::remove_owned(const fs::path& path) {
  tick("remove", path);
  ForwardingStorage::remove_owned(path);
}

void FaultyStorage::hard_link(const fs::path& existing, const fs::path& link) {
  tick("link", link);
  if (refuse_hard_links_) throw IoError("link (refused by test)", link, EXDEV);
  ForwardingStorage::hard_link(existing, link);
}

void FaultyStorage::create_symlink(const fs::path& target, const fs::path& link) {
  tick("symlink", link);
  ForwardingStorage::create_symlink(target, link);
}

fs::path FaultyStorage::read_symlink(const fs::path& link) {
  tick("readlink", link);
  return ForwardingStorage::read_symlink(link);
}

uint64_t FaultyStorage::available_bytes(const fs::path& path) {
  return available_override_ ? *available_override_ : ForwardingStorage::available_bytes(path);
}

}  // namespace cairn::testing
