#include "results.hpp"

#include "measure.hpp"

#include <algorithm>

namespace bench {

double Row::median() const { return bench::median(seconds); }

double Row::gb_per_second() const {
  const double time = median();
  return time > 0 ? static_cast<double>(bytes) / time / 1e9 : 0;
}

void record(Row& row, const std::function<void()>& action) {
  const bool resettable = reset_peak_memory();
  const uint64_t before = resident_memory_bytes();
  row.seconds.push_back(seconds_of(action));
  if (!resettable) return;
  const uint64_t peak = peak_memory_bytes();
  const uint64_t growth = peak > before ? peak - before : 0;
  row.peak_memory_growth = std::max(row.peak_memory_growth.value_or(0), growth);
}

void record_seconds(Row& row, double seconds, std::optional<uint64_t> peak_memory) {
  row.seconds.push_back(seconds);
  if (peak_memory) row.peak_memory_growth = std::max(row.peak_memory_growth.value_or(0), *peak_memory);
}

Row& Results::row(const std::string& workload, const std::string& contender,
                  const std::string& memory, uint64_t bytes) {
  for (Row& existing : rows_) {
    if (existing.workload == workload && existing.contender == contender) return existing;
  }
  rows_.push_back({workload, contender, memory, bytes, {}, std::nullopt});
  return rows_.back();
}

const Row* Results::find(const std::string& workload, const std::string& contender) const {
  for (const Row& existing : rows_) {
    if (existing.workload == workload && existing.contender == contender) return &existing;
  }
  return nullptr;
}

}  // namespace bench
