#include "format/strict_json.hpp"

#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cairn/error.hpp"

namespace cairn::format {
namespace {

// Thrown from inside the parser, caught below and turned into a CorruptDataError.
struct Refused {
  std::string reason;
};

// Builds the document from the parser's events (nlohmann's SAX interface), refusing too deep
// nesting and duplicate keys as they arrive. Its own builder rather than nlohmann's parser
// callback: that one scans the parent object after every child object ends (a header of n
// tensors would cost n^2).
template <typename Json>
class StrictBuilder {
 public:
  using number_integer_t = typename Json::number_integer_t;
  using number_unsigned_t = typename Json::number_unsigned_t;
  using number_float_t = typename Json::number_float_t;
  using string_t = typename Json::string_t;
  using binary_t = typename Json::binary_t;

  StrictBuilder(int max_depth, std::vector<std::string>* top_level_keys)
      : max_depth_(max_depth), top_level_keys_(top_level_keys) {}

  bool null() { return add(Json(nullptr)) != nullptr; }
  bool boolean(bool value) { return add(Json(value)) != nullptr; }
  bool number_integer(number_integer_t value) { return add(Json(value)) != nullptr; }
  bool number_unsigned(number_unsigned_t value) { return add(Json(value)) != nullptr; }
  bool number_float(number_float_t value, const string_t&) { return add(Json(value)) != nullptr; }
  bool string(string_t& value) { return add(Json(std::move(value))) != nullptr; }
  bool binary(binary_t& value) { return add(Json::binary(std::move(value))) != nullptr; }

  bool start_object(std::size_t) {
    open(Json::object());
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& key) {
    if (!keys_.back().insert(key).second) throw Refused{"duplicate key \"" + key + "\""};
    if (top_level_keys_ != nullptr && keys_.size() == 1) top_level_keys_->push_back(key);
    pending_key_ = std::move(key);
    return true;
  }
  bool end_object() {
    keys_.pop_back();
    open_.pop_back();
    return true;
  }
  bool start_array(std::size_t) {
    open(Json::array());
    return true;
  }
  bool end_array() {
    open_.pop_back();
    return true;
  }
  template <typename Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& error) {
    throw Refused{std::string("is not valid JSON: ") + error.what()};
  }

  Json take() { return std::move(root_); }

 private:
  void open(Json container) {
    if (static_cast<int>(open_.size()) >= max_depth_) {
      throw Refused{"nested deeper than " + std::to_string(max_depth_) + " levels"};
    }
    open_.push_back(add(std::move(container)));
  }
  // Places `value` in the innermost open container (or as the document); returns where it is.
  // Containers are filled only while innermost, so the pointers kept in open_ stay valid.
  Json* add(Json value) {
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    Json& slot = parent[pending_key_];
    slot = std::move(value);
    return &slot;
  }

  int max_depth_;
  std::vector<std::string>* top_level_keys_;
  Json root_;
  std::vector<Json*> open_;
  std::vector<std::unordered_set<std::string>> keys_;
  std::string pending_key_;
};

template <typename Json>
Json parse_strict(std::string_view text, int max_depth, const std::filesystem::path& path,
                  std::string_view what, std::vector<std::string>* top_level_keys) {
  StrictBuilder<Json> builder(max_depth, top_level_keys);
  try {
    Json::sax_parse(text.begin(), text.end(), &builder, nlohmann::detail::input_format_t::json,
                    /*strict=*/true, /*ignore_comments=*/false);
  } catch (const Refused& refused) {
    throw CorruptDataError(path, std::string(what) + " " + refused.reason);
  } catch (const typename Json::exception& error) {
    throw CorruptDataError(path, std::string(what) + " is not valid JSON: " + error.what());
  }
  return builder.take();
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
