#include "checkpoint/background_save.hpp"

#include <memory>
#include <system_error>
#include <utility>

namespace cairn::checkpoint {

void BackgroundSave::start(std::function<void()> job) {
  done_ = false;
  auto shared = std::make_shared<std::function<void()>>(std::move(job));
  auto run = [this, shared] {
    try {
      (*shared)();
    } catch (...) {
      failure_ = std::current_exception();
    }
    done_ = true;
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
