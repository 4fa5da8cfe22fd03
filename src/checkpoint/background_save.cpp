#include "checkpoint/background_save.hpp"

#include <utility>

namespace cairn::checkpoint {

void BackgroundSave::start(std::function<void()> job) {
  done_ = false;
  worker_ = std::thread([this, job = std::move(job)] {
    try {
      job();
    } catch (...) {
      failure_ = std::current_exception();
    }
    done_ = true;
  });
}

std::exception_ptr BackgroundSave::finish() noexcept {
  if (worker_.joinable()) worker_.join();
  return std::exchange(failure_, nullptr);
}

}  // namespace cairn::checkpoint
