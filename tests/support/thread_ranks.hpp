// Several ranks as threads of one process: multi-rank saves and restores tested without MPI
// (and under the sanitizers). all_gather waits at most `timeout`, then names who is missing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cairn/coordinator.hpp"

namespace cairn::testing {

class ThreadRanks {
 public:
  explicit ThreadRanks(int size, std::chrono::milliseconds timeout = std::chrono::seconds(60));
  ~ThreadRanks();

  Coordinator& rank(int r);
  int size() const noexcept { return static_cast<int>(ranks_.size()); }
  // Runs body(rank) on one thread per rank and waits for all; returns what each threw (null
  // when nothing).
  std::vector<std::exception_ptr> run(const std::function<void(int)>& body);

 private:
  class Rank;
  friend class Rank;
  std::vector<std::string> all_gather(int rank, const std::string& mine, std::string_view what);

  std::chrono::milliseconds timeout_;
  std::vector<std::unique_ptr<Rank>> ranks_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::optional<std::string>> slots_;
  std::vector<std::string> last_;
  int arrived_ = 0;
  long generation_ = 0;
  bool broken_ = false;
};

}  // namespace cairn::testing
