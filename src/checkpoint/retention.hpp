// AllenNLP's retention rule, applied to the ledger after each save (DESIGN.md section 4):
// checkpoints form a queue in save order; while more than N are queued, the oldest leaves the
// queue; it is kept for good if keep-every-K-seconds is set and its save time is more than K
// seconds after the reference time (the last checkpoint kept for good, or the first
// construction), which then moves to its save time; otherwise it is deleted.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "checkpoint/ledger.hpp"

namespace cairn::checkpoint {

struct RetentionDecision {
  std::string name;
  bool keep_for_good = false;  // else: delete
  std::string reason;          // for the log: "kept for good: 3700 s since last permanent"
};

// Moves what leaves the queue into ledger.permanent or ledger.doomed, and returns the decisions.
// `keep_last`: none or negative keeps all; `keep_every_seconds`: none is off.
std::vector<RetentionDecision> apply_retention(Ledger& ledger, std::optional<int> keep_last,
                                               std::optional<double> keep_every_seconds);

}  // namespace cairn::checkpoint
