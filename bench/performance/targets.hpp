// The performance targets, each computed as a ratio of two rows of one run.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "results.hpp"

namespace bench {

struct Target {
  std::string name;     // "durable save (a) vs best raw durable write"
  std::string goal;     // ">= 0.90x"
  std::optional<double> value;  // none: a row it needs was not measured
  std::string unit;     // "x", "ms", "us/tensor", "MiB"
  bool met = false;
  std::string detail;   // which rows it compares
};

// Every target the rows allow; `tensors_b` is the tensor count of workload (b).
std::vector<Target> evaluate_targets(const Results& results, int tensors_b);

}  // namespace bench
