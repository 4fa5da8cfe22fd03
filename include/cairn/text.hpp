// Human-readable text for shapes, byte counts and measured values, as cairn's messages, logs and
// tools print them.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace cairn {

// "[2, 3]"; "[]" for a 0-d tensor.
std::string format_shape(std::span<const int64_t> shape);
// "512 B", "751.9 KiB", "1.0 GiB" (binary units, one decimal above bytes).
std::string format_bytes(uint64_t bytes);
// A metric value with up to 6 significant digits: "0.412", "1e-07".
std::string format_value(double value);

}  // namespace cairn
