#include "format/tree_codec.hpp"

#include <bit>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "cairn/error.hpp"
#include "format/checksum.hpp"
#include "format/strict_json.hpp"

namespace cairn::format {
namespace {

using Json = nlohmann::json;

// Tags of the single-key objects that encode what plain JSON cannot say exactly.
constexpr const char* kDoubleTag = "f64";   // {"f64": "<16 hex digits of the IEEE-754 bits>"}
constexpr const char* kMapTag = "map";      // {"map": [["key", value], ...]} (order kept)
constexpr const char* kTensorTag = "tensor";  // {"tensor": "<tensor name in the file>"}

std::string child_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string path = parent;
  path += '.';
  path += key;
  return path;
}

class Encoder {
 public:
  Json encode(const State& state, const std::string& path, int depth = 0) {
    if (depth > kMaxWriteDepth) {
      throw InvalidArgumentError("State tree is nested deeper than " +
                                 std::to_string(kMaxWriteDepth) + " levels at '" + path + "'");
    }
    switch (state.kind()) {
      case State::Kind::Null: return nullptr;
      case State::Kind::Bool: return state.as_bool();
      case State::Kind::Int: return state.as_int();
      case State::Kind::Double:
        return Json{{kDoubleTag, to_hex16(std::bit_cast<uint64_t>(state.as_double()))}};
      case State::Kind::String: return state.as_string();
      case State::Kind::List: {
        Json list = Json::array();
        size_t index = 0;
        for (const State& element : state.elements()) {
          list.push_back(encode(element, child_path(path, std::to_string(index++)), depth + 1));
        }
        return list;
      }
      case State::Kind::Map: {
        Json entries = Json::array();
        for (const auto& [key, value] : state.items()) {
          entries.push_back(Json::array({key, encode(value, child_path(path, key), depth + 1)}));
        }
        return Json{{kMapTag, std::move(entries)}};
      }
      case State::Kind::Tensor:
        tensors_.push_back({path.empty() ? std::string("_") : path, &state.as_tensor()});
        // Patched with the final (deduplicated) name once all paths are known.
        return Json{{kTensorTag, tensors_.size() - 1}};
    }
    return nullptr;
  }

  // Gives each tensor a unique name: the plain path for its first holder, "<path>~k" after.
  std::vector<std::string> unique_names() const {
    std::unordered_set<std::string> taken;
    for (const NamedTensor& tensor : tensors_) taken.insert(tensor.name);
    std::unordered_set<std::string> used;
    std::vector<std::string> names;
    names.reserve(tensors_.size());
    for (const NamedTensor& tensor : tensors_) {
      std::string name = tensor.name;
      for (int suffix = 1; used.contains(name) || (name != tensor.name && taken.contains(name));
           ++suffix) {
        name = tensor.name + "~" + std::to_string(suffix);
      }
      used.insert(name);
      names.push_back(std::move(name));
    }
    return names;
  }

  std::vector<NamedTensor>& tensors() { return tensors_; }

 private:
  std::vector<NamedTensor> tensors_;
};

void patch_tensor_names(Json& node, const std::vector<std::string>& names) {
  if (node.is_array()) {
    for (Json& element : node) patch_tensor_names(element, names);
  } else if (node.is_object()) {
    auto tensor = node.find(kTensorTag);
    if (tensor != node.end()) {
      *tensor = names[tensor->get<size_t>()];
    } else if (auto map = node.find(kMapTag); map != node.end()) {
      for (Json& entry : *map) patch_tensor_names(entry[1], names);
    }
  }
}

class Decoder {
 public:
  Decoder(const std::vector<std::string_view>& tensor_names,
          const std::function<Tensor(const std::string&)>& tensor_by_name,
          const std::filesystem::path& path)
      : tensor_by_name_(tensor_by_name), path_(path) {
    for (std::string_view name : tensor_names) unreferenced_.insert(std::string(name));
  }

  State decode(const nlohmann::json& node) {
    using Type = nlohmann::json::value_t;
    switch (node.type()) {
      case Type::null: return State();
      case Type::boolean: return State(node.get<bool>());
      case Type::number_integer: return State(node.get<int64_t>());
      case Type::number_unsigned: {
        uint64_t value = node.get<uint64_t>();
        if (value > static_cast<uint64_t>(INT64_MAX)) fail("integer out of int64 range");
        return State(static_cast<int64_t>(value));
      }
      case Type::string: return State(node.get<std::string>());
      case Type::array: {
        State list = State::list();
        for (const auto& element : node) list.push_back(decode(element));
        return list;
      }
      case Type::object: return decode_tagged(node);
      default: fail("unexpected JSON value " + node.dump());
    }
  }

  void check_all_referenced() const {
    if (!unreferenced_.empty()) {
      fail("tensor '" + *unreferenced_.begin() + "' is in the file but not in the tree");
    }
  }

 private:
  State decode_tagged(const nlohmann::json& node) {
    if (node.size() != 1) fail("tree node has " + std::to_string(node.size()) + " keys, want 1");
    const auto only = node.begin();
    const std::string& tag = only.key();
    const auto& value = only.value();
    if (tag == kDoubleTag) {
      auto bits = value.is_string() ? parse_hex16(value.get<std::string>()) : std::nullopt;
      if (!bits) fail("bad double encoding " + value.dump());
      return State(std::bit_cast<double>(*bits));
    }
    if (tag == kTensorTag) {
      if (!value.is_string()) fail("bad tensor reference " + value.dump());
      std::string name = value.get<std::string>();
      if (unreferenced_.erase(name) != 1) {
        fail("tree refers to tensor '" + name + "', which is missing or referenced twice");
      }
      return State(tensor_by_name_(name));
    }
    if (tag == kMapTag) {
      if (!value.is_array()) fail("bad map encoding");
      State map = State::map();
      for (const auto& entry : value) {
        if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string()) {
          fail("bad map entry " + entry.dump().substr(0, 80));
        }
        const std::string& key = entry[0].get_ref<const std::string&>();
        if (map.contains(key)) fail("duplicate map key '" + key + "'");
        map[key] = decode(entry[1]);
      }
      return map;
    }
    fail("unknown tree node tag '" + tag + "'");
  }

  [[noreturn]] void fail(const std::string& reason) const {
    throw CorruptDataError(path_, "bad tree in metadata: " + reason);
  }

  const std::function<Tensor(const std::string&)>& tensor_by_name_;
  const std::filesystem::path& path_;
  std::unordered_set<std::string> unreferenced_;
};

}  // namespace

EncodedTree encode_tree(const State& state) {
  Encoder encoder;
  Json tree = encoder.encode(state, "");
  std::vector<std::string> names = encoder.unique_names();
  patch_tensor_names(tree, names);
  EncodedTree encoded;
  encoded.tensors = std::move(encoder.tensors());
  for (size_t i = 0; i < names.size(); ++i) encoded.tensors[i].name = std::move(names[i]);
  try {
    encoded.json = tree.dump();
  } catch (const Json::type_error& error) {
    throw InvalidArgumentError(std::string("State holds a string that is not valid UTF-8: ") +
                               error.what());
  }
  return encoded;
}

State decode_tree(std::string_view json, const std::vector<std::string_view>& tensor_names,
                  const std::function<Tensor(const std::string&)>& tensor_by_name,
                  const std::filesystem::path& path) {
  auto tree = parse_strict_json_sorted(json, kMaxTreeJsonDepth, path, "tree in metadata");
  Decoder decoder(tensor_names, tensor_by_name, path);
  State state = decoder.decode(tree);
  decoder.check_all_referenced();
  return state;
}

}  // namespace cairn::format
