// Every retention policy's options in one value: what a writer applies after each save, what
// the ledger records for tools, and what `cairn prune` overrides.
#pragma once

#include <optional>
#include <string>

#include "cairn/retention.hpp"

namespace cairn::checkpoint {

struct RetentionPolicy {
  std::optional<int> keep_last;              // none or negative: keep all
  std::optional<double> keep_every_seconds;  // none: off
  std::optional<int> keep_best_k;            // none or 0: off
  std::string metric;                        // the metric best-k ranks by
  MetricMode mode = MetricMode::Min;
  std::optional<int> keep_every_n_epochs;  // none or 0: off

  bool best_k_on() const noexcept { return keep_best_k && *keep_best_k > 0; }
  bool every_n_on() const noexcept { return keep_every_n_epochs && *keep_every_n_epochs > 0; }
};

// `policy` with every option `overrides` sets replaced.
RetentionPolicy override_policy(RetentionPolicy policy, const RetentionOverrides& overrides);
// Throws InvalidArgumentError naming the option that is out of range.
void validate_policy(const RetentionPolicy& policy);

}  // namespace cairn::checkpoint
