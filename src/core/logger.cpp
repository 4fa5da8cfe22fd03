#include "cairn/logger.hpp"

#include <cstdio>

namespace cairn {

Logger stderr_logger() {
  return [](LogLevel level, std::string_view message) {
    std::fprintf(stderr, "cairn: %s%.*s\n", level == LogLevel::Warning ? "warning: " : "",
                 static_cast<int>(message.size()), message.data());
  };
}

Logger null_logger() {
  return [](LogLevel, std::string_view) {};
}

}  // namespace cairn
