// JSON parsing for untrusted input: nesting depth is capped and duplicate object keys are
// refused (plain JSON parsers keep one of them silently). Any failure is a CorruptDataError
// naming the file and what is wrong.
#pragma once

#include <filesystem>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cairn::format {

// Parses `text` (object key order kept). `what` names the part of the file ("header", "tree").
nlohmann::ordered_json parse_strict_json(std::string_view text, int max_depth,
                                         const std::filesystem::path& path, std::string_view what);

}  // namespace cairn::format
