// What the benchmark measured: one row per workload and contender, every repetition kept.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bench {

struct Row {
  std::string workload;  // "a", "b", "c", "a@256MiB"...
  std::string contender;
  std::string memory;    // the memory the bytes go to or come from: "touched", "new", "page cache"...
  uint64_t bytes = 0;
  std::vector<double> seconds;
  std::optional<uint64_t> peak_memory_growth;  // over the resident memory before, bytes
  double median() const;
  double gb_per_second() const;  // 1e9 bytes
};

// Times `action` into `row`, with this process's peak memory growth over its resident memory
// before (the largest of the repetitions).
void record(Row& row, const std::function<void()>& action);
// Adds a time measured elsewhere (a child process's, or part of an action).
void record_seconds(Row& row, double seconds, std::optional<uint64_t> peak_memory = std::nullopt);

class Results {
 public:
  Row& row(const std::string& workload, const std::string& contender, const std::string& memory,
           uint64_t bytes);
  const Row* find(const std::string& workload, const std::string& contender) const;
  const std::deque<Row>& rows() const { return rows_; }

 private:
  std::deque<Row> rows_;  // a deque: rows handed out stay where they are
};

}  // namespace bench
