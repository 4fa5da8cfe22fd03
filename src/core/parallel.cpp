#include "core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace cairn::core {

void parallel_for(size_t count, uint64_t total_bytes, const std::function<void(size_t)>& work) {
  constexpr uint64_t kBytesPerExtraThread = uint64_t{8} << 20;
  const size_t threads = static_cast<size_t>(std::min<uint64_t>(
      {std::max(1u, std::thread::hardware_concurrency()), 1 + total_bytes / kBytesPerExtraThread,
       8, std::max<size_t>(count, 1)}));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto run = [&] {
    for (size_t i; !failed && (i = next.fetch_add(1, std::memory_order_relaxed)) < count;) {
      try {
        work(i);
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> helpers;
  helpers.reserve(threads);
  try {
    for (size_t i = 1; i < threads; ++i) helpers.emplace_back(run);
  } catch (const std::system_error&) {  // NOLINT(bugprone-empty-catch): fewer threads will do
  }
  run();
  for (std::thread& helper : helpers) helper.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace cairn::core
