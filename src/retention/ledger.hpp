// The retention ledger (retention.json): what this directory's writers have saved and still
// keep, so retention continues exactly across restarts, and only checkpoints cairn wrote are
// ever deleted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cairn/checkpoint_info.hpp"
#include "cairn/storage.hpp"
#include "retention/policy.hpp"

namespace cairn::checkpoint {

struct LedgerEntry {
  std::string name;
  double save_time = 0;
  Metrics metrics;  // as given to the save (finite values only)
};

// A run of a list's oldest entries (queue, permanent or retained) moved out of retention.json
// into a file of its own in retention-segments/, which no later write changes: retention.json,
// written twice per save, then holds only the recent entries and the segments' names, however
// many are kept (docs/format.md).
struct LedgerSegment {
  std::string list;  // "queue", "permanent" or "retained"
  std::string file;  // its name in retention-segments/
  int64_t first_seq = 0;  // the sequence numbers of its first and last entry
  int64_t last_seq = 0;
  size_t entries = 0;
  std::string xxh3;  // of the file's bytes
  double latest_save_time = 0;  // not stored: known from the entries
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
  // Where the oldest entries of queue, permanent and retained are stored (grouped by list in
  // that order, each list's oldest first), and
  // how many entries of the first queue segment have left the queue since it was written. The
  // lists above hold every entry all the same.
  std::vector<LedgerSegment> segments;
  size_t queue_left = 0;
  // The segment files retention.json on disk names (as last read or written): when the next
  // write names others, the folder is swept of the files it no longer names.
  std::vector<std::string> segments_on_disk;

  bool owns(const std::string& name) const;
  // queue, permanent and retained: every checkpoint kept, in no particular order.
  std::vector<const LedgerEntry*> kept() const;
  // Brings save times (and reference_time) that lie after `now` back to `now`; returns how many.
  // Looks at the entries of segments only when one holds a future time (they are written anew).
  size_t clamp_future_times(double now);  // in ledger_segments.cpp, beside what it rewrites
};

}  // namespace cairn::checkpoint
