// Time as the Checkpointer sees it. Save times are persisted, so they come from a wall clock
// (now); intervals inside one process (model_save_interval) come from a monotonic clock
// (monotonic_now), which a wall clock set back or ahead does not move. Tests substitute a fake.
#pragma once

#include <memory>

namespace cairn {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() = 0;  // seconds since 1970-01-01 UTC
  // Seconds since an arbitrary fixed point, never going back; only differences mean anything.
  // The default is now(), for clocks that only fake wall time.
  virtual double monotonic_now() { return now(); }
};

// The system's real-time clock. Thread-safe.
std::shared_ptr<Clock> system_clock();

}  // namespace cairn
