// The words of retention (docs/retention.md): which way a metric improves, what retention does
// with one checkpoint and why, and the options a tool may put in place of the last writer's.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cairn {

// Whether a smaller (Min) or a larger (Max) metric value is better.
enum class MetricMode { Min, Max };
// "min" or "max", as the JSON config, the ledger and the tools spell them.
const char* metric_mode_name(MetricMode mode) noexcept;
// Inverse of metric_mode_name; nullopt for any other text.
std::optional<MetricMode> metric_mode_from_name(std::string_view name) noexcept;

// What retention does (or would do) with one checkpoint, and why: "kept: one of the last 2; best
// 1 of 3 by val_loss (min) = 0.412" or "deleted: outside the last 2, no policy keeps it".
struct RetentionDecision {
  std::string name;
  bool keep = true;
  std::string reason;
};

// Options that replace the last writer's retention options (recorded in the directory's
// ledger); unset ones keep the writer's. keep_best_k or keep_every_n_epochs 0 turns it off.
struct RetentionOverrides {
  std::optional<int> num_serialized_models_to_keep;
  std::optional<double> keep_serialized_model_every_num_seconds;
  std::optional<int> keep_best_k;
  std::optional<std::string> metric;
  std::optional<MetricMode> mode;
  std::optional<int> keep_every_n_epochs;
};

}  // namespace cairn
