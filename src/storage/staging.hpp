// Staging area: folders are written under <serialization_dir>/staging/ and published into
// place by one atomic rename, so readers see a folder whole or not at all.
//
// Only the holder of the directory lock writes to staging/; anything found there by a new lock
// holder is a leftover of a crashed writer and is removed. staging/ is a folder cairn owns
// (storage/owned_folder.hpp): every deletion cairn makes happens in it, and a staging/ that
// cairn did not create is refused, never emptied.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/storage.hpp"

namespace cairn::storage {

inline constexpr const char* kStagingDirName = "staging";

class StagedFolder {
 public:
  StagedFolder(Storage& storage, std::filesystem::path staging_dir, std::filesystem::path folder);
  StagedFolder(StagedFolder&& other) noexcept;
  StagedFolder& operator=(StagedFolder&&) = delete;
  // Removes the folder unless it was published. Never throws.
  ~StagedFolder();

  const std::filesystem::path& path() const noexcept { return folder_; }
  // A new file in the folder. The caller writes it, then calls sync() and close() on it.
  std::unique_ptr<WritableFile> create_file(std::string_view name);

  // Publishes the folder as `destination` (which must not exist), durably:
  // 1. fsync the folder, so the entries of its (already fsynced) files are durable
  // 2. rename it to `destination`, one atomic step on one filesystem
  // 3. fsync the destination's parent (the new entry) and staging/ (the old one is gone)
  // Throws InvalidArgumentError if `destination` exists, IoError if a step fails; before step 2
  // completes nothing is visible at `destination`.
  void publish(const std::filesystem::path& destination);

 private:
  Storage* storage_;
  std::filesystem::path staging_dir_;
  std::filesystem::path folder_;
  bool owned_ = true;  // false once published or moved from
};

class StagingArea {
 public:
  StagingArea(Storage& storage, const std::filesystem::path& serialization_dir);

  const std::filesystem::path& path() const noexcept { return staging_dir_; }
  // A new empty folder "<name>.<pid>.<n>" in staging/ (claimed first: created, or checked to be
  // cairn's).
  StagedFolder begin(std::string_view name);
  // Removes a published folder so that readers see it whole or not at all: it is renamed into
  // staging/ (one atomic step), then deleted there. Nothing happens if it does not exist.
  void discard(const std::filesystem::path& folder);
  // discard(), unless a reader holds a pin on the folder (storage/folder_pin.hpp): then nothing
  // happens and it returns false.
  bool discard_unless_pinned(const std::filesystem::path& folder);
  // Removes everything in staging/ and returns what it found: each entry, and why it was not
  // removed when the deletion guard refused it. Throws InvalidArgumentError when staging/ is not
  // cairn's (storage/owned_folder.hpp). Call only while holding the directory lock: no other
  // writer can be staging then.
  struct Leftover {
    std::filesystem::path path;
    std::string refusal;  // empty when removed
  };
  std::vector<Leftover> remove_leftovers();

 private:
  // claim_folder for staging/; an unmarked one holding only "<name>.<pid>.<n>" folders was left
  // by a cairn from before the owner marker, and is adopted.
  void claim();

  Storage& storage_;
  std::filesystem::path staging_dir_;
};

}  // namespace cairn::storage
