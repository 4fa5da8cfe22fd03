// list_directory: a serialization directory as a person wants to see it.
#include <algorithm>
#include <cerrno>

#include "cairn/error.hpp"
#include "cairn/inspect.hpp"
#include "checkpoint/layout.hpp"
#include "checkpoint/ledger.hpp"
#include "storage/directory_lock.hpp"
#include "storage/staging.hpp"

namespace cairn {

DirectoryListing list_directory(const std::filesystem::path& serialization_dir) {
  Storage& storage = local_storage();
  if (!storage.exists(serialization_dir)) {
    throw IoError("list", serialization_dir, ENOENT);
  }
  DirectoryListing listing;
  CheckpointerOptions options;
  options.serialization_dir = serialization_dir;
  options.logger = null_logger();
  listing.checkpoints = Checkpointer(options).list_checkpoints();
  if (!listing.checkpoints.empty()) listing.latest = listing.checkpoints.back().name;

  std::optional<checkpoint::Ledger> ledger = checkpoint::read_ledger(storage, serialization_dir);
  const auto checkpoints = serialization_dir / checkpoint::kCheckpointsDir;
  if (storage.exists(checkpoints)) {
    std::vector<DirEntry> entries = storage.list(checkpoints);
    std::sort(entries.begin(), entries.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    for (const DirEntry& entry : entries) {
      if (!ledger || !ledger->owns(entry.name)) {
        listing.others.push_back({checkpoints / entry.name, "not written by cairn"});
      }
    }
  }
  const auto staging = serialization_dir / storage::kStagingDirName;
  if (storage.exists(staging)) {
    for (const DirEntry& entry : storage.list(staging)) {
      if (entry.name == kOwnerMarker) continue;  // the mark that staging/ is cairn's
      listing.others.push_back({staging / entry.name, "staging leftover"});
    }
  }
  listing.writer_pid = storage::DirectoryLock::holder(serialization_dir);
  return listing;
}

}  // namespace cairn
