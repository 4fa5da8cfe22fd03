// Time as the Checkpointer sees it: wall-clock seconds since the Unix epoch. Save times are
// persisted, so the clock must be a wall clock. Tests substitute a fake one.
#pragma once

#include <memory>

namespace cairn {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() = 0;  // seconds since 1970-01-01 UTC
};

// The system's real-time clock. Thread-safe.
std::shared_ptr<Clock> system_clock();

}  // namespace cairn
