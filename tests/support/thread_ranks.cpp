#include "support/thread_ranks.hpp"

#include <thread>
#include <utility>

#include "cairn/error.hpp"

namespace cairn::testing {

class ThreadRanks::Rank final : public Coordinator {
 public:
  Rank(ThreadRanks& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_.size(); }
  std::vector<std::string> all_gather(const std::string& mine, std::string_view what) override {
    return group_.all_gather(rank_, mine, what);
  }

 private:
  ThreadRanks& group_;
  int rank_;
};

ThreadRanks::ThreadRanks(int size, std::chrono::milliseconds timeout)
    : timeout_(timeout), slots_(static_cast<size_t>(size)) {
  for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<Rank>(*this, r));
}

ThreadRanks::~ThreadRanks() = default;

Coordinator& ThreadRanks::rank(int r) { return *ranks_.at(static_cast<size_t>(r)); }

std::vector<std::exception_ptr> ThreadRanks::run(const std::function<void(int)>& body) {
  std::vector<std::exception_ptr> errors(ranks_.size());
  std::vector<std::thread> threads;
  for (int r = 0; r < size(); ++r) {
    threads.emplace_back([&, r] {
      try {
        body(r);
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  return errors;
}

std::vector<std::string> ThreadRanks::all_gather(int rank, const std::string& mine,
                                                 std::string_view what) {
  std::unique_lock lock(mutex_);
  if (broken_) throw RankError("the ranks are out of step since an earlier timeout");
  slots_[static_cast<size_t>(rank)] = mine;
  if (++arrived_ == size()) {
    last_.clear();
    for (auto& slot : slots_) last_.push_back(*std::exchange(slot, std::nullopt));
    arrived_ = 0;
    ++generation_;
    changed_.notify_all();
    return last_;
  }
  const long waiting_for = generation_ + 1;
  if (!changed_.wait_for(lock, timeout_, [&] { return generation_ >= waiting_for || broken_; }) ||
      broken_) {
    broken_ = true;
    changed_.notify_all();
    std::string missing;
    for (size_t r = 0; r < slots_.size(); ++r) {
      if (!slots_[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    }
    throw RankError("rank(s) " + missing + " did not reach " + std::string(what) + " within " +
                    std::to_string(timeout_.count()) + " ms");
  }
  return last_;
}

}  // namespace cairn::testing
