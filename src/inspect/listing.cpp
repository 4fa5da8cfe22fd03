// list_directory: a serialization directory as a person wants to see it.
#include <algorithm>
#include <cerrno>
#include <optional>

#include "cairn/checkpointer.hpp"
#include "cairn/error.hpp"
#include "cairn/inspect.hpp"
#include "checkpoint/checkpoint_files.hpp"
#include "checkpoint/layout.hpp"
#include "retention/ledger_file.hpp"
#include "storage/directory_lock.hpp"
#include "storage/staging.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using checkpoint::Ledger;
using checkpoint::LedgerEntry;

bool is_listed(const DirectoryListing& listing, const std::string& name) {
  return std::any_of(listing.checkpoints.begin(), listing.checkpoints.end(),
                     [&](const CheckpointInfo& info) { return info.name == name; });
}

bool is_in(const std::vector<LedgerEntry>& entries, const std::string& name) {
  return std::any_of(entries.begin(), entries.end(),
                     [&](const LedgerEntry& entry) { return entry.name == name; });
}

const LedgerEntry* ledger_entry(const Ledger& ledger, const std::string& name) {
  for (const auto* list : {&ledger.queue, &ledger.permanent, &ledger.retained, &ledger.pending}) {
    for (const LedgerEntry& entry : *list) {
      if (entry.name == name) return &entry;
    }
  }
  return nullptr;
}

// What the folder's name and the ledger tell of a checkpoint whose folder cannot be opened.
CheckpointInfo info_from_ledger(const Ledger& ledger, const fs::path& dir) {
  CheckpointInfo info;
  info.name = dir.filename().string();
  info.paths = {dir, dir / checkpoint::kModelFile, dir / checkpoint::kTrainingStateFile};
  if (auto name = checkpoint::parse_checkpoint_name(info.name)) {
    info.seq = name->seq;
    info.epoch = name->epoch;
    info.batches_this_epoch = name->batches_this_epoch;
  }
  if (const LedgerEntry* entry = ledger_entry(ledger, info.name)) {
    info.save_time = entry->save_time;
    info.metrics = entry->metrics;
  }
  info.is_best = ledger.best == info.name;
  info.permanent = is_in(ledger.permanent, info.name);
  return info;
}

// An error's message without the folder's path in front ("MANIFEST.json: ..."): the listing
// already names the folder.
std::string problem_in(const fs::path& dir, const std::string& message) {
  for (const std::string& prefix : {dir.string() + "/", dir.string() + ": "}) {
    if (message.starts_with(prefix)) return message.substr(prefix.size());
  }
  return message;
}

// Why the published checkpoint `name` cannot be opened; nullopt when it opens.
std::optional<std::string> open_problem(Storage& storage, const fs::path& checkpoints,
                                        const std::string& name) {
  try {
    checkpoint::open_published(storage, checkpoints, name);
    return std::nullopt;
  } catch (const CorruptDataError& error) {
    return problem_in(checkpoints / name, error.what());
  }
}

// A folder the ledger owns that list_checkpoints left out, so that it does not vanish from the
// listing: it cannot be opened (damaged), or it opens and is pending or doomed in the ledger.
void add_unlisted(Storage& storage, const Ledger& ledger, const fs::path& checkpoints,
                  const std::string& name, DirectoryListing& listing) {
  const fs::path dir = checkpoints / name;
  if (auto problem = open_problem(storage, checkpoints, name)) {
    // A writer's retention may have retired it while we read it: gone, not damaged.
    if (storage.exists(dir)) listing.damaged.push_back({info_from_ledger(ledger, dir), *problem});
    return;
  }
  const auto& doomed = ledger.doomed;
  if (is_in(ledger.pending, name)) {
    listing.others.push_back({dir, "not yet recorded"});
  } else if (std::find(doomed.begin(), doomed.end(), name) != doomed.end()) {
    listing.others.push_back({dir, "retired"});
  }
  // Else a writer changed the ledger after list_checkpoints read it: the next listing shows it.
}

void add_checkpoints_dir_entries(Storage& storage, const fs::path& serialization_dir,
                                 DirectoryListing& listing) {
  const std::optional<Ledger> ledger = checkpoint::read_ledger(storage, serialization_dir);
  const auto checkpoints = serialization_dir / checkpoint::kCheckpointsDir;
  if (!storage.exists(checkpoints)) return;
  std::vector<DirEntry> entries = storage.list(checkpoints);
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  for (const DirEntry& entry : entries) {
    if (!ledger || !ledger->owns(entry.name)) {
      listing.others.push_back({checkpoints / entry.name, "not written by cairn"});
    } else if (!is_listed(listing, entry.name)) {
      add_unlisted(storage, *ledger, checkpoints, entry.name, listing);
    }
  }
}

void add_staging_leftovers(Storage& storage, const fs::path& serialization_dir,
                           DirectoryListing& listing) {
  const auto staging = serialization_dir / storage::kStagingDirName;
  if (!storage.exists(staging)) return;
  for (const DirEntry& entry : storage.list(staging)) {
    if (entry.name == kOwnerMarker) continue;  // the mark that staging/ is cairn's
    listing.others.push_back({staging / entry.name, "staging leftover"});
  }
}

}  // namespace

DirectoryListing list_directory(const fs::path& serialization_dir, Storage& storage) {
  if (!storage.exists(serialization_dir)) {
    throw IoError("list", serialization_dir, ENOENT);
  }
  DirectoryListing listing;
  CheckpointerOptions options;
  options.serialization_dir = serialization_dir;
  options.storage = &storage;
  options.logger = null_logger();  // what it leaves out is listed below, with the reason
  listing.checkpoints = Checkpointer(options).list_checkpoints();
  if (!listing.checkpoints.empty()) listing.latest = listing.checkpoints.back().name;
  add_checkpoints_dir_entries(storage, serialization_dir, listing);
  add_staging_leftovers(storage, serialization_dir, listing);
  listing.writer_pid = storage::DirectoryLock::holder(storage, serialization_dir);
  return listing;
}

}  // namespace cairn
