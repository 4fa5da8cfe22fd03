#include "checkpoint/retention.hpp"

#include <cstdio>

namespace cairn::checkpoint {
namespace {

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.0f s", seconds);
  return text;
}

}  // namespace

std::vector<RetentionDecision> apply_retention(Ledger& ledger, std::optional<int> keep_last,
                                               std::optional<double> keep_every_seconds) {
  std::vector<RetentionDecision> decisions;
  if (!keep_last || *keep_last < 0) return decisions;  // keep all
  const size_t limit = static_cast<size_t>(*keep_last);
  while (ledger.queue.size() > limit) {
    LedgerEntry oldest = ledger.queue.front();
    ledger.queue.erase(ledger.queue.begin());
    const double since = oldest.save_time - ledger.reference_time;
    RetentionDecision decision{oldest.name, false, {}};
    if (keep_every_seconds && since > *keep_every_seconds) {
      decision.keep_for_good = true;
      decision.reason = "kept for good: " + seconds_text(since) +
                        " since the last permanent checkpoint (keep one every " +
                        seconds_text(*keep_every_seconds) + ")";
      ledger.reference_time = oldest.save_time;
      ledger.permanent.push_back(std::move(oldest));
    } else {
      decision.reason = "deleted: outside the last " + std::to_string(limit) +
                        (keep_every_seconds ? ", and only " + seconds_text(since) +
                                                  " after the last permanent checkpoint"
                                            : std::string());
      ledger.doomed.push_back(oldest.name);
    }
    decisions.push_back(std::move(decision));
  }
  return decisions;
}

}  // namespace cairn::checkpoint
