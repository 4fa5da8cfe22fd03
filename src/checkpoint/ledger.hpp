// The retention ledger (retention.json): what this directory's writers have saved and still
// keep, so retention continues exactly across restarts, and only checkpoints cairn wrote are
// ever deleted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cairn/checkpointer.hpp"
#include "cairn/storage.hpp"
#include "checkpoint/retention_policy.hpp"

namespace cairn::checkpoint {

struct LedgerEntry {
  std::string name;
  double save_time = 0;
  Metrics metrics;  // as given to the save (finite values only)
};

struct Ledger {
  int64_t next_seq = 0;
  // Save time of the last checkpoint kept for good, or of the first construction.
  double reference_time = 0;
  std::vector<LedgerEntry> queue;      // recent checkpoints, oldest first (last-N window)
  std::vector<LedgerEntry> permanent;  // kept for good
  // Left the last-N window but kept by another policy (best-k, every n-th epoch, newest);
  // decided again after every save.
  std::vector<LedgerEntry> retained;
  // Being published when the ledger was written: adopted if the folder exists, else dropped.
  std::vector<LedgerEntry> pending;
  // Decided to delete; deleting is repeated until done (idempotent).
  std::vector<std::string> doomed;
  std::optional<std::string> best;  // the checkpoint whose model best/ holds
  // A checkpoint saved as best whose best/ update failed (a full disk, say): the next save
  // makes best/ from it. Written only when set.
  std::optional<std::string> best_pending;
  // The retention options of the last writer, so tools can apply them (cairn prune).
  RetentionPolicy policy;

  bool owns(const std::string& name) const;
  // queue, permanent and retained: every checkpoint kept, in no particular order.
  std::vector<const LedgerEntry*> kept() const;
};

// Reads <dir>/retention.json; nullopt when there is none. Throws CorruptDataError when it exists
// but is damaged. Ledgers written before the policies of docs/retention.md existed (no
// "retained", "metrics" or best-k keys) read as having none.
std::optional<Ledger> read_ledger(Storage& storage, const std::filesystem::path& dir);
// Replaces <dir>/retention.json atomically and durably.
void write_ledger(Storage& storage, const std::filesystem::path& dir, const Ledger& ledger);

}  // namespace cairn::checkpoint
