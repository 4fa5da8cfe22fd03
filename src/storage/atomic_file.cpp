#include "storage/atomic_file.hpp"

#include <unistd.h>

#include <atomic>
#include <string>

namespace cairn::storage {
namespace {

constexpr std::string_view kTemporaryTag = ".cairn-tmp.";

}  // namespace

std::filesystem::path temporary_sibling(const std::filesystem::path& path) {
  static std::atomic<unsigned long> counter{0};
  // Built by appending: GCC 12 at -O3 warns falsely (-Wrestrict) on chains of operator+.
  std::string name = ".";
  name.append(path.filename().string())
      .append(kTemporaryTag)
      .append(std::to_string(::getpid()))
      .append(".")
      .append(std::to_string(counter++));
  return path.parent_path() / name;
}

bool is_own_temporary(std::string_view name) {
  const size_t tag = name.rfind(kTemporaryTag);
  if (!name.starts_with('.') || tag == std::string_view::npos || tag == 0) return false;
  const std::string own = std::to_string(::getpid()) + ".";
  std::string_view rest = name.substr(tag + kTemporaryTag.size());
  if (!rest.starts_with(own)) return false;
  rest.remove_prefix(own.size());
  return !rest.empty() && rest.find_first_not_of("0123456789") == std::string_view::npos;
}

bool is_plain_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
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
    cleanup_quietly([&] { storage.remove_owned(temporary); });
    throw;
  }
  storage.sync_directory(directory);
}

}  // namespace cairn::storage
