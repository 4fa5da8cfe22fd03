#include "retention/policy.hpp"

#include "cairn/error.hpp"

namespace cairn::checkpoint {

RetentionPolicy override_policy(RetentionPolicy policy, const RetentionOverrides& overrides) {
  if (overrides.num_serialized_models_to_keep) {
    policy.keep_last = overrides.num_serialized_models_to_keep;
  }
  if (overrides.keep_serialized_model_every_num_seconds) {
    policy.keep_every_seconds = overrides.keep_serialized_model_every_num_seconds;
  }
  if (overrides.keep_best_k) policy.keep_best_k = overrides.keep_best_k;
  if (overrides.metric) policy.metric = *overrides.metric;
  if (overrides.mode) policy.mode = *overrides.mode;
  if (overrides.keep_every_n_epochs) policy.keep_every_n_epochs = overrides.keep_every_n_epochs;
  return policy;
}

void validate_policy(const RetentionPolicy& policy) {
  if (policy.keep_every_seconds && !(*policy.keep_every_seconds >= 0)) {
    throw InvalidArgumentError(
        "keep_serialized_model_every_num_seconds must be a non-negative number of seconds");
  }
  if (policy.keep_best_k && *policy.keep_best_k < 0) {
    throw InvalidArgumentError("keep_best_k must not be negative (0 or none turns it off)");
  }
  if (policy.best_k_on() && policy.metric.empty()) {
    throw InvalidArgumentError("keep_best_k needs the name of the metric to rank by (metric)");
  }
  if (policy.keep_every_n_epochs && *policy.keep_every_n_epochs < 0) {
    throw InvalidArgumentError("keep_every_n_epochs must not be negative (0 or none turns it off)");
  }
}

}  // namespace cairn::checkpoint

namespace cairn {

const char* metric_mode_name(MetricMode mode) noexcept { return mode == MetricMode::Max ? "max" : "min"; }

std::optional<MetricMode> metric_mode_from_name(std::string_view name) noexcept {
  if (name == "min") return MetricMode::Min;
  if (name == "max") return MetricMode::Max;
  return std::nullopt;
}

}  // namespace cairn
