// The retention policies, applied to the ledger after each save (docs/retention.md):
// - last N (AllenNLP): checkpoints form a queue in save order; while more than N are queued,
//   the oldest leaves the queue;
// - one every K seconds (AllenNLP): a checkpoint leaving the queue is kept for good if its save
//   time is more than K seconds after the reference time (the last checkpoint kept for good, or
//   the first construction), which then moves to its save time;
// - best k by a metric, every n-th epoch, and the newest valid checkpoint: decided again for
//   every checkpoint outside the queue at every save.
// A checkpoint is kept if any policy keeps it; the others are doomed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cairn/checkpoint_info.hpp"
#include "cairn/retention.hpp"
#include "retention/ledger.hpp"
#include "retention/policy.hpp"

namespace cairn::checkpoint {

// Which decisions an outcome explains: every checkpoint's (cairn prune, explain_retention), or
// only those of the checkpoints whose fate changed and the doomed ones (a writer's save, whose
// work then does not grow with the number of checkpoints kept).
enum class Explain { Everything, Changes };

struct RetentionOutcome {
  // One per checkpoint the ledger keeps or dooms now (with Explain::Changes, only those in
  // `changed` and the doomed ones), oldest first.
  std::vector<RetentionDecision> decisions;
  // Names whose fate changed now (left the queue: kept for good, retained, or doomed): what a
  // writer logs.
  std::vector<std::string> changed;
};

// Moves checkpoints between ledger.queue, .permanent, .retained and .doomed as `policy` says.
// `newest_valid`, when given, is kept whatever the options (unless keep_last is 0).
RetentionOutcome apply_retention(Ledger& ledger, const RetentionPolicy& policy,
                                 const std::optional<std::string>& newest_valid,
                                 Explain explain = Explain::Everything);

}  // namespace cairn::checkpoint
