// One save running on a thread of its own. Its failure is kept until the owner asks for it, so
// the error of a background save reaches the caller's next call rather than being lost.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <thread>

namespace cairn::checkpoint {

class BackgroundSave {
 public:
  BackgroundSave() = default;
  BackgroundSave(const BackgroundSave&) = delete;
  BackgroundSave& operator=(const BackgroundSave&) = delete;
  ~BackgroundSave() { finish(); }

  // Runs `job` on a new thread (on the calling thread when none can be started). The previous
  // job must have been finished.
  void start(std::function<void()> job);
  bool running() const noexcept { return worker_.joinable(); }
  // Waits for the job, if one runs; returns its failure once (null when it succeeded or none ran).
  std::exception_ptr finish() noexcept;
  // As finish() when the job has ended; null, without waiting, while it runs.
  std::exception_ptr finish_if_done() noexcept { return done_ ? finish() : nullptr; }

 private:
  std::atomic<bool> done_{false};
  std::thread worker_;
  std::exception_ptr failure_;
};

}  // namespace cairn::checkpoint
