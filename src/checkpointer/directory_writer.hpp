// The one writer of a serialization directory: it holds the directory lock, owns the ledger and
// the staging area, and does rank 0's steps of the save protocol (checkpointer/save.hpp):
// settle what a crashed writer left, reserve a name, commit a staged folder (manifest, publish,
// best, retention) or abandon it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/layout.hpp"
#include "checkpoint/manifest.hpp"
#include "checkpointer/context.hpp"
#include "checkpointer/rank_messages.hpp"
#include "retention/ledger.hpp"
#include "storage/directory_lock.hpp"
#include "storage/staging.hpp"

namespace cairn::checkpointer {

// A save the writer has recorded as pending in the ledger.
struct Reservation {
  checkpoint::CheckpointName name;
  std::string folder_name;
  double save_time = 0;
  double started = 0;  // wall clock, for the log
  Metrics recorded;
  bool published = false;
};

class DirectoryWriter {
 public:
  // `constructed_at`: the first reference time of a new ledger (the Checkpointer's construction).
  DirectoryWriter(const Context& context, double constructed_at);

  bool is_writer() const noexcept { return lock_ != nullptr; }
  // Takes the directory lock (LockedError when another writer holds it), removes staging
  // leftovers and settles the ledger: adopts checkpoints published just before a crash, finishes
  // deletions a crash interrupted, never reuses a sequence number. Once; later calls do nothing.
  void become_writer();
  // This writer's ledger, or the directory's (empty when there is none).
  checkpoint::Ledger current_ledger() const;

  // Records a new checkpoint as pending (so a crash never leaves a folder nobody owns).
  Reservation reserve(int64_t epoch, std::optional<int64_t> batches_this_epoch, double save_time,
                      Metrics recorded);
  // A fresh folder in staging/ for `reservation`.
  storage::StagedFolder begin_staging(const Reservation& reservation);
  // Writes the manifest of every rank's files into `staged`, publishes it into checkpoints/
  // with one rename, updates best/ when asked, then applies retention and deletes what it dooms.
  void commit(Reservation& reservation, storage::StagedFolder& staged,
              const std::vector<WrittenFiles>& written, bool is_best_so_far);
  // After a failed save: the ledger forgets the pending name unless the rename happened before
  // the failure (a failed fsync of checkpoints/): then the folder is ours and stays. When
  // unsure, it stays pending.
  void abandon(const Reservation& reservation) noexcept;

 private:
  void settle_ledger();
  checkpoint::Ledger rebuilt_ledger() const;
  void apply_retention(const std::string& newest);
  void delete_doomed();
  // Writes the ledger, after checking that this writer still holds the directory.
  void store_ledger();
  void clamp_future_times();
  // Makes `name` (published, with `manifest`) the best model; on failure the checkpoint stays
  // committed, the ledger remembers the wish (best_pending) and the next save tries again.
  void update_best(const std::string& name, const checkpoint::Manifest& manifest);
  // The next save's attempt at a best model an earlier one could not make.
  void repair_best();

  const Context& context_;
  double constructed_at_;
  storage::StagingArea staging_;
  std::unique_ptr<storage::DirectoryLock> lock_;  // held from the first save on
  checkpoint::Ledger ledger_;                     // valid while `lock_` is held
};

}  // namespace cairn::checkpointer
