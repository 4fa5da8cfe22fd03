// explain_directory and prune_directory: the retention policies applied by a tool, outside any
// training run, with the last writer's options or overrides.
#include <algorithm>

#include "cairn/error.hpp"
#include "cairn/inspect.hpp"
#include "retention/ledger_file.hpp"
#include "retention/disk_retention.hpp"
#include "storage/directory_lock.hpp"
#include "storage/staging.hpp"

namespace cairn {
namespace {

// The last writer's policies with `overrides`, checked, decided as decide_retention does.
std::vector<RetentionDecision> decide(Storage& storage, const std::filesystem::path& dir,
                                      checkpoint::Ledger& ledger,
                                      const RetentionOverrides& overrides, bool verify_data) {
  const checkpoint::RetentionPolicy policy = checkpoint::override_policy(ledger.policy, overrides);
  checkpoint::validate_policy(policy);
  return checkpoint::decide_retention(storage, dir, ledger, policy, verify_data);
}

}  // namespace

std::vector<RetentionDecision> explain_directory(const std::filesystem::path& serialization_dir,
                                                 const RetentionOverrides& overrides,
                                                 Storage& storage) {
  std::optional<checkpoint::Ledger> ledger = checkpoint::read_ledger(storage, serialization_dir);
  if (!ledger) return {};
  return decide(storage, serialization_dir, *ledger, overrides, /*verify_data=*/false);
}

std::vector<RetentionDecision> prune_directory(const std::filesystem::path& serialization_dir,
                                               const RetentionOverrides& overrides, bool dry_run,
                                               Storage& storage) {
  // Taking the lock (also for a dry run) refuses to run beside a writer, and keeps one from
  // starting while we decide.
  storage::DirectoryLock lock(storage, serialization_dir);
  std::optional<checkpoint::Ledger> ledger = checkpoint::read_ledger(storage, serialization_dir);
  if (!ledger) return {};
  // Deleting needs certainty about what a restore would use: read every tensor of the newest.
  std::vector<RetentionDecision> decisions =
      decide(storage, serialization_dir, *ledger, overrides, /*verify_data=*/true);
  if (dry_run) return decisions;
  lock.check_held();
  checkpoint::write_ledger(storage, serialization_dir, *ledger);
  storage::StagingArea staging(storage, serialization_dir);
  const std::vector<std::string> deferred =
      checkpoint::delete_doomed(storage, staging, serialization_dir, *ledger);
  checkpoint::write_ledger(storage, serialization_dir, *ledger);
  for (RetentionDecision& decision : decisions) {
    if (std::find(deferred.begin(), deferred.end(), decision.name) != deferred.end()) {
      decision.reason += " (not yet: a reader is restoring from it)";
    }
  }
  return decisions;
}

}  // namespace cairn
