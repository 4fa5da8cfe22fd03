// Human-readable text for shapes and byte counts, as cairn's messages, logs and tools print them.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace cairn {

// "[2, 3]"; "[]" for a 0-d tensor.
std::string format_shape(std::span<const int64_t> shape);
// "512 B", "751.9 KiB", "1.0 GiB" (binary units, one decimal above bytes).
std::string format_bytes(uint64_t bytes);

}  // namespace cairn
