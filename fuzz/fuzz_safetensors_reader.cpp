// libFuzzer target: any byte string handed to the safetensors reader must give a State or a
// cairn::Error, never a crash, a hang, a leak or an allocation sized by an unchecked number.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cairn/cairn.hpp"

namespace {

// Serves one in-memory file through the Storage seam, so each run costs no system calls.
class MemoryFile final : public cairn::ReadableFile, public cairn::MappedRegion {
 public:
  MemoryFile(const uint8_t* data, size_t size)
      : bytes_(reinterpret_cast<const std::byte*>(data), size) {}
  uint64_t size() const override { return bytes_.size(); }
  void read_at(uint64_t offset, std::span<std::byte> buffer) const override {
    if (offset > bytes_.size() || buffer.size() > bytes_.size() - offset) {
      throw cairn::CorruptDataError("fuzz-input", "read past the end");
    }
    if (!buffer.empty()) std::memcpy(buffer.data(), bytes_.data() + offset, buffer.size());
  }
  std::shared_ptr<const cairn::MappedRegion> map() const override {
    return std::make_shared<MemoryFile>(*this);
  }
  std::span<const std::byte> bytes() const noexcept override { return bytes_; }

 private:
  std::span<const std::byte> bytes_;
};

class MemoryStorage final : public cairn::Storage {
 public:
  MemoryStorage(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  std::unique_ptr<cairn::ReadableFile> open_file(const std::filesystem::path&) override {
    return std::make_unique<MemoryFile>(data_, size_);
  }
  [[noreturn]] static void unsupported() { throw cairn::InvalidArgumentError("read-only"); }
  std::unique_ptr<cairn::WritableFile> create_file(const std::filesystem::path&) override {
    unsupported();
  }
  void create_directories(const std::filesystem::path&) override { unsupported(); }
  std::vector<cairn::DirEntry> list(const std::filesystem::path&) override { unsupported(); }
  bool exists(const std::filesystem::path&) override { return true; }
  void rename(const std::filesystem::path&, const std::filesystem::path&) override {
    unsupported();
  }
  void sync_directory(const std::filesystem::path&) override { unsupported(); }
  void remove_owned(const std::filesystem::path&) override { unsupported(); }
  void hard_link(const std::filesystem::path&, const std::filesystem::path&) override {
    unsupported();
  }
  void create_symlink(const std::filesystem::path&, const std::filesystem::path&) override {
    unsupported();
  }
  std::filesystem::path read_symlink(const std::filesystem::path&) override { unsupported(); }
  uint64_t available_bytes(const std::filesystem::path&) override { return 0; }

 private:
  const uint8_t* data_;
  size_t size_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemoryStorage storage(data, size);
  for (bool verify : {true, false}) {
    try {
      auto file = cairn::SafetensorsFile::open("fuzz-input", {.verify_checksums = verify}, storage);
      cairn::State state = file.state();
      file.verify();
    } catch (const cairn::Error&) {
      // Refusing bad input with a cairn::Error is the expected outcome.
    }
  }
  return 0;
}
