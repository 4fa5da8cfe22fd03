#include "storage/owned_folder.hpp"

#include <cerrno>
#include <string>

#include "cairn/error.hpp"

namespace cairn::storage {
namespace {

bool is_symlink(Storage& storage, const std::filesystem::path& path) {
  try {
    storage.read_symlink(path);
    return true;
  } catch (const IoError& error) {
    if (error.error_code() == EINVAL || error.error_code() == ENOENT) return false;
    throw;
  }
}

void write_marker(Storage& storage, const std::filesystem::path& dir) {
  // JSON like every other file cairn writes (only the marker's presence is ever checked).
  const std::string text =
      "{\"created_by\": \"cairn\", \"note\": \"cairn deletes inside this folder\"}\n";
  auto marker = storage.create_file(dir / kOwnerMarker);
  marker->append(std::as_bytes(std::span(text)));
  marker->sync();
  marker->close();
  storage.sync_directory(dir);
}

}  // namespace

void claim_folder(Storage& storage, const std::filesystem::path& dir,
                  const std::function<bool(const DirEntry&)>& looks_ours) {
  if (!storage.exists(dir)) {
    storage.create_directories(dir);
    write_marker(storage, dir);
    storage.sync_directory(dir.parent_path());
    return;
  }
  const std::string refusal = " was not created by cairn; cairn neither writes into it nor "
                              "deletes from it. Move it away, or use another serialization "
                              "directory";
  if (is_symlink(storage, dir)) throw InvalidArgumentError(dir.string() + " is a symbolic link and" + refusal, dir);
  if (storage.exists(dir / kOwnerMarker)) return;
  for (const DirEntry& entry : storage.list(dir)) {
    if (!looks_ours || !looks_ours(entry)) {
      throw InvalidArgumentError(dir.string() + " holds " + entry.name + " and no " +
                                     kOwnerMarker + " marker: it" + refusal,
                                 dir);
    }
  }
  write_marker(storage, dir);
}

}  // namespace cairn::storage
