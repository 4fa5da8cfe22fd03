#pragma once

namespace cairn {

inline constexpr int kVersionMajor = 0;
inline constexpr int kVersionMinor = 1;
inline constexpr int kVersionPatch = 0;
// On-disk format version written into every file and manifest (docs/format.md).
inline constexpr int kFormatVersion = 1;

}  // namespace cairn
