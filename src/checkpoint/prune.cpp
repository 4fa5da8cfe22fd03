// prune_directory: the retention rule applied by a tool, outside any training run.
#include "cairn/error.hpp"
#include "cairn/inspect.hpp"
#include "checkpoint/layout.hpp"
#include "checkpoint/ledger.hpp"
#include "checkpoint/retention.hpp"
#include "storage/directory_lock.hpp"
#include "storage/staging.hpp"

namespace cairn {

std::vector<PruneDecision> prune_directory(const std::filesystem::path& serialization_dir,
                                           std::optional<int> keep_last_override,
                                           std::optional<double> keep_every_override,
                                           bool dry_run) {
  Storage& storage = local_storage();
  // Taking the lock (also for a dry run) refuses to run beside a writer, and keeps one from
  // starting while we decide.
  storage::DirectoryLock lock(serialization_dir);
  std::optional<checkpoint::Ledger> stored = checkpoint::read_ledger(storage, serialization_dir);
  if (!stored) return {};
  checkpoint::Ledger ledger = *stored;
  const std::optional<int> keep_last =
      keep_last_override ? keep_last_override : ledger.num_serialized_models_to_keep;
  const std::optional<double> keep_every =
      keep_every_override ? keep_every_override : ledger.keep_serialized_model_every_num_seconds;

  std::vector<PruneDecision> decisions;
  for (const auto& entry : ledger.permanent) {
    decisions.push_back({entry.name, true, "kept: kept for good earlier"});
  }
  for (const auto& decision : checkpoint::apply_retention(ledger, keep_last, keep_every)) {
    decisions.push_back({decision.name, decision.keep_for_good, decision.reason});
  }
  for (const auto& entry : ledger.queue) {
    decisions.push_back({entry.name, true,
                         keep_last && *keep_last >= 0
                             ? "kept: one of the last " + std::to_string(*keep_last)
                             : std::string("kept: keeping all")});
  }
  if (dry_run) return decisions;
  checkpoint::write_ledger(storage, serialization_dir, ledger);
  const auto checkpoints = serialization_dir / checkpoint::kCheckpointsDir;
  storage::StagingArea staging(storage, serialization_dir);
  for (const std::string& name : ledger.doomed) staging.discard(checkpoints / name);
  if (!ledger.doomed.empty()) storage.sync_directory(checkpoints);
  ledger.doomed.clear();
  checkpoint::write_ledger(storage, serialization_dir, ledger);
  return decisions;
}

}  // namespace cairn
