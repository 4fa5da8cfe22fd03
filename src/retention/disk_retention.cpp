#include "retention/disk_retention.hpp"

#include <algorithm>

#include "cairn/error.hpp"
#include "checkpoint/checkpoint_files.hpp"
#include "checkpoint/layout.hpp"
#include "retention/retention_rules.hpp"

namespace cairn::checkpoint {
namespace {

// The newest checkpoint the ledger keeps whose manifest and headers check out, and with
// `verify_data` whose every tensor verifies too; none when no kept checkpoint does.
std::optional<std::string> newest_valid_checkpoint(Storage& storage,
                                                   const std::filesystem::path& serialization_dir,
                                                   const Ledger& ledger, bool verify_data) {
  std::vector<const LedgerEntry*> kept = ledger.kept();
  auto seq = [](const LedgerEntry* entry) { return parse_checkpoint_name(entry->name)->seq; };
  std::sort(kept.begin(), kept.end(),
            [&](const LedgerEntry* a, const LedgerEntry* b) { return seq(a) > seq(b); });
  for (const LedgerEntry* entry : kept) {
    try {
      OpenedCheckpoint opened = open_published(storage, serialization_dir / kCheckpointsDir, entry->name);
      if (verify_data) opened.verify();
      return entry->name;
    } catch (const CorruptDataError&) {  // NOLINT(bugprone-empty-catch): try the next older one
    }
  }
  return std::nullopt;
}

// Drops from ledger.doomed the checkpoints already gone (a writer records its deletions only
// with its next ledger write), so that what is left is what still waits to be deleted.
void forget_deleted(Storage& storage, const std::filesystem::path& serialization_dir,
                    Ledger& ledger) {
  const std::filesystem::path checkpoints = serialization_dir / kCheckpointsDir;
  std::erase_if(ledger.doomed,
                [&](const std::string& name) { return !storage.exists(checkpoints / name); });
}

}  // namespace

std::vector<RetentionDecision> decide_retention(Storage& storage,
                                                const std::filesystem::path& serialization_dir,
                                                Ledger& ledger, const RetentionPolicy& policy,
                                                bool verify_data) {
  forget_deleted(storage, serialization_dir, ledger);
  const auto newest = newest_valid_checkpoint(storage, serialization_dir, ledger, verify_data);
  return apply_retention(ledger, policy, newest).decisions;
}

std::vector<std::string> delete_doomed(Storage& storage, storage::StagingArea& staging,
                                       const std::filesystem::path& serialization_dir,
                                       Ledger& ledger) {
  const std::filesystem::path checkpoints = serialization_dir / kCheckpointsDir;
  std::vector<std::string> deferred;
  bool deleted_any = false;
  try {
    while (!ledger.doomed.empty()) {
      // read_ledger refuses other names; this keeps any that slipped in from reaching a deletion.
      if (!parse_checkpoint_name(ledger.doomed.back())) {
        ledger.doomed.pop_back();
        continue;
      }
      if (staging.discard_unless_pinned(checkpoints / ledger.doomed.back())) {
        deleted_any = true;
      } else {
        deferred.push_back(ledger.doomed.back());
      }
      ledger.doomed.pop_back();  // recorded as done by the next ledger write
    }
  } catch (...) {  // the failed one is still doomed; so are the deferred ones
    ledger.doomed.insert(ledger.doomed.end(), deferred.begin(), deferred.end());
    throw;
  }
  if (deleted_any) storage.sync_directory(checkpoints);
  ledger.doomed = deferred;
  return deferred;
}

}  // namespace cairn::checkpoint
