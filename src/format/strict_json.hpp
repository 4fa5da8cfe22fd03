// JSON parsing for untrusted input: nesting depth is capped and duplicate object keys are
// refused (plain JSON parsers keep one of them silently). Any failure is a CorruptDataError
// naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/error.hpp"

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

// The integer at `key` of `object`, which must lie in min..max; anything else (missing, a
// string, a float such as 1e300 whose conversion would be undefined) is a CorruptDataError
// naming `path` and `what`.
template <typename Json>
int64_t integer_field(const Json& object, const char* key, int64_t min, int64_t max,
                      const std::filesystem::path& path, std::string_view what) {
  auto fail = [&](const std::string& reason) {
    throw CorruptDataError(path, std::string(what) + "'s \"" + key + "\" " + reason);
  };
  if (!object.is_object() || !object.contains(key)) fail("is missing");
  const Json& value = object.at(key);
  if (!value.is_number_integer()) fail("is not an integer");
  const bool past_int64 = value.is_number_unsigned() &&
                         value.template get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
  const int64_t number = past_int64 ? max : value.template get<int64_t>();
  if (past_int64 || number < min || number > max) {
    fail("lies outside " + std::to_string(min) + ".." + std::to_string(max));
  }
  return number;
}

}  // namespace cairn::format
