#include "format/strict_json.hpp"

#include <string>
#include <unordered_set>
#include <vector>

#include "cairn/error.hpp"

namespace cairn::format {
namespace {

// Thrown from inside the parser callback, caught below and turned into a CorruptDataError.
struct Refused {
  std::string reason;
};

template <typename Json>
Json parse_strict(std::string_view text, int max_depth, const std::filesystem::path& path,
                  std::string_view what, std::vector<std::string>* top_level_keys) {
  std::vector<std::unordered_set<std::string>> keys_per_object;
  auto guard = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= max_depth) {
          throw Refused{"nested deeper than " + std::to_string(max_depth) + " levels"};
        }
        if (event == Json::parse_event_t::object_start) keys_per_object.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        keys_per_object.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys_per_object.back().insert(parsed.template get<std::string>()).second) {
          throw Refused{"duplicate key \"" + parsed.template get<std::string>() + "\""};
        }
        if (top_level_keys != nullptr && keys_per_object.size() == 1) {
          top_level_keys->push_back(parsed.template get<std::string>());
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), guard, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const Refused& refused) {
    throw CorruptDataError(path, std::string(what) + " " + refused.reason);
  } catch (const typename Json::exception& error) {
    throw CorruptDataError(path, std::string(what) + " is not valid JSON: " + error.what());
  }
}

}  // namespace

nlohmann::ordered_json parse_strict_json(std::string_view text, int max_depth,
                                         const std::filesystem::path& path, std::string_view what) {
  return parse_strict<nlohmann::ordered_json>(text, max_depth, path, what, nullptr);
}

nlohmann::json parse_strict_json_sorted(std::string_view text, int max_depth,
                                        const std::filesystem::path& path, std::string_view what,
                                        std::vector<std::string>* top_level_keys) {
  return parse_strict<nlohmann::json>(text, max_depth, path, what, top_level_keys);
}

}  // namespace cairn::format
