#include "checkpointer/background_save.hpp"

#include <memory>
#include <system_error>
#include <utility>

#include "cairn/error.hpp"
#include "core/forced_unwind.hpp"

namespace cairn::checkpoint {

void BackgroundSave::start(std::function<void()> job) {
  done_ = false;
  auto shared = std::make_shared<std::function<void()>>(std::move(job));
  auto run = [this, shared] {
    // A forced unwind (core/forced_unwind.hpp) ends the thread past every catch: the failure
    // it leaves is this one, and done_ is set on the way out.
    failure_ = std::make_exception_ptr(Error("the save's thread was ended before it finished"));
    struct MarkDone {
      std::atomic<bool>& done;
      ~MarkDone() { done = true; }
    } mark_done{done_};
    try {
      (*shared)();
      failure_ = nullptr;
    }
    CAIRN_RETHROW_FORCED_UNWIND
    catch (...) {
      failure_ = std::current_exception();
    }
  };
  try {
    worker_ = std::thread(run);
  } catch (const std::system_error&) {
    // No thread to be had (a process at its limit): the save still happens, on this thread,
    // and its outcome is reported the same way.
    run();
  }
}

std::exception_ptr BackgroundSave::finish() noexcept {
  if (worker_.joinable()) worker_.join();
  return std::exchange(failure_, nullptr);
}

}  // namespace cairn::checkpoint
