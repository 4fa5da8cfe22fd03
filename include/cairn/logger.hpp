// Where cairn reports what it decided: one line per save, keep and delete, and warnings such as
// a corrupt checkpoint skipped on restore. Replace it to route lines into your own logging, or
// silence it with null_logger().
#pragma once

#include <functional>
#include <string_view>

namespace cairn {

enum class LogLevel { Info, Warning };

// Called from the thread that made the decision; must not throw.
using Logger = std::function<void(LogLevel, std::string_view message)>;

// Prints "cairn: <message>" (or "cairn: warning: <message>") to stderr.
Logger stderr_logger();
// Drops everything.
Logger null_logger();

}  // namespace cairn
