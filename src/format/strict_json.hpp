// JSON parsing for untrusted input: nesting depth is capped and duplicate object keys are
// refused (plain JSON parsers keep one of them silently). Any failure is a CorruptDataError
// naming the file and what is wrong.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace cairn::format {

// Parses `text` (object key order kept). `what` names the part of the file ("header", "tree").
// For small documents whose key order matters when rendered again (manifest, ledger).
nlohmann::ordered_json parse_strict_json(std::string_view text, int max_depth,
                                         const std::filesystem::path& path, std::string_view what);
// The same into objects sorted by key, whose lookups and insertions cost log n where an ordered
// object's cost n (a header of 10,000 tensors would take n^2). The top-level object's keys in
// their order in the text go to `top_level_keys` when it is given.
nlohmann::json parse_strict_json_sorted(std::string_view text, int max_depth,
                                        const std::filesystem::path& path, std::string_view what,
                                        std::vector<std::string>* top_level_keys = nullptr);

}  // namespace cairn::format
