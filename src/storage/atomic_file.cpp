#include "storage/atomic_file.hpp"

#include <unistd.h>

#include <atomic>
#include <string>

namespace cairn::storage {

std::filesystem::path temporary_sibling(const std::filesystem::path& path) {
  static std::atomic<unsigned long> counter{0};
  // Built by appending: GCC 12 at -O3 warns falsely (-Wrestrict) on chains of operator+.
  std::string name = ".";
  name.append(path.filename().string())
      .append(".cairn-tmp.")
      .append(std::to_string(::getpid()))
      .append(".")
      .append(std::to_string(counter++));
  return path.parent_path() / name;
}

void cleanup_quietly(const std::function<void()>& cleanup) noexcept {
  try {
    cleanup();
  } catch (...) {  // NOLINT(bugprone-empty-catch): the first error is the one to report
  }
}

void write_file_atomically(Storage& storage, const std::filesystem::path& path,
                           const std::function<void(WritableFile&)>& write) {
  const std::filesystem::path directory =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const std::filesystem::path temporary = directory / temporary_sibling(path).filename();
  std::unique_ptr<WritableFile> file = storage.create_file(temporary);
  try {
    write(*file);
    file->sync();
    file->close();
    storage.rename(temporary, path);
  } catch (...) {
    file.reset();
    cleanup_quietly([&] { storage.remove_all(temporary); });
    throw;
  }
  storage.sync_directory(directory);
}

}  // namespace cairn::storage
