#include "format/header.hpp"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "cairn/error.hpp"
#include "format/checksum.hpp"
#include "format/strict_json.hpp"

namespace cairn::format {
namespace {

using Json = nlohmann::json;  // sorted objects: lookups cost log n (see strict_json.hpp)

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text;
  for (int64_t dim : shape) text += std::to_string(dim) + ",";
  return text;
}

uint64_t read_u64_le(const std::byte* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<uint64_t>(bytes[i]);
  return value;
}

// Validates one tensor entry of the header JSON.
class EntryParser {
 public:
  explicit EntryParser(const std::filesystem::path& path) : path_(path) {}

  TensorInfo parse(const std::string& name, const Json& entry) const {
    if (!entry.is_object()) fail(name, "entry is not a JSON object");
    TensorInfo info;
    info.name = name;
    for (const auto& [key, value] : entry.items()) {
      if (key == "dtype") {
        auto dtype = value.is_string() ? dtype_from_name(value.get<std::string>()) : std::nullopt;
        if (!dtype) fail(name, "unknown dtype " + value.dump());
        info.dtype = *dtype;
      } else if (key == "shape") {
        if (!value.is_array()) fail(name, "shape is not a list");
        for (const auto& dim : value) {
          info.shape.push_back(static_cast<int64_t>(unsigned_value(name, "shape", dim)));
        }
      } else if (key == "data_offsets") {
        if (!value.is_array() || value.size() != 2) fail(name, "data_offsets is not [begin, end]");
        info.begin = unsigned_value(name, "data_offsets", value[0]);
        info.end = unsigned_value(name, "data_offsets", value[1]);
      } else {
        fail(name, "unexpected field \"" + key + "\"");
      }
    }
    for (const char* required : {"dtype", "shape", "data_offsets"}) {
      if (!entry.contains(required)) fail(name, std::string("missing field \"") + required + "\"");
    }
    if (info.begin > info.end) fail(name, "data_offsets begin after end");
    size_t expected;
    try {
      expected = tensor_nbytes(info.dtype, info.shape);
    } catch (const InvalidArgumentError&) {
      fail(name, "shape [" + shape_text(info.shape) + "] overflows");
    }
    if (expected != info.end - info.begin) {
      fail(name, "shape [" + shape_text(info.shape) + "] of " + std::string(dtype_name(info.dtype)) +
                     " needs " + std::to_string(expected) + " bytes but data_offsets span " +
                     std::to_string(info.end - info.begin));
    }
    return info;
  }

 private:
  uint64_t unsigned_value(const std::string& name, const char* field, const Json& value) const {
    // Dimensions must also fit in int64; offsets are checked against the file size later.
    // The parser gives every non-negative integer literal the unsigned type.
    if (!value.is_number_unsigned()) {
      fail(name, std::string(field) + " holds " + value.dump() + ", not a non-negative integer");
    }
    uint64_t number = value.get<uint64_t>();
    if (number > static_cast<uint64_t>(INT64_MAX)) {
      fail(name, std::string(field) + " value " + std::to_string(number) + " is too large");
    }
    return number;
  }

  [[noreturn]] void fail(const std::string& name, const std::string& reason) const {
    throw CorruptDataError(path_, "tensor '" + name + "': " + reason);
  }

  const std::filesystem::path& path_;
};

// The data section must be covered exactly: no gap, no overlap, nothing after the last tensor.
void check_layout(std::vector<TensorInfo> tensors, uint64_t data_size,
                  const std::filesystem::path& path) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (const TensorInfo& tensor : tensors) {
    if (tensor.begin < covered) {
      throw CorruptDataError(path, "tensor '" + tensor.name + "' overlaps the tensor before it");
    }
    if (tensor.begin > covered) {
      throw CorruptDataError(path, "gap of " + std::to_string(tensor.begin - covered) +
                                       " bytes before tensor '" + tensor.name + "'");
    }
    covered = tensor.end;
  }
  if (covered > data_size) {
    throw CorruptDataError(path, "truncated: tensors need " + std::to_string(covered) +
                                     " data bytes but the file holds " + std::to_string(data_size));
  }
  if (covered < data_size) {
    throw CorruptDataError(path, std::to_string(data_size - covered) +
                                     " trailing bytes after the last tensor");
  }
}

}  // namespace

void append_json_string(std::string& out, const std::string& text) {
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (!plain) {
    out += Json(text).dump();
    return;
  }
  out += '"';
  out += text;
  out += '"';
}

std::string render_header(const std::vector<TensorInfo>& tensors, const Metadata& metadata) {
  // One JSON object whose keys keep the tensors' order, rendered entry by entry (an ordered
  // JSON object would cost n per insertion): {"__metadata__":{...},"name":{"dtype":...},...}.
  std::string json = "{";
  try {
    if (!metadata.empty()) json += "\"__metadata__\":" + Json(metadata).dump();
    for (const TensorInfo& tensor : tensors) {
      if (json.size() > 1) json += ',';
      append_json_string(json, tensor.name);
      json += ":{\"dtype\":\"";
      json += dtype_name(tensor.dtype);
      json += "\",\"shape\":[";
      for (size_t i = 0; i < tensor.shape.size(); ++i) {
        if (i > 0) json += ',';
        json += std::to_string(tensor.shape[i]);
      }
      json += "],\"data_offsets\":[";
      json += std::to_string(tensor.begin);
      json += ',';
      json += std::to_string(tensor.end);
      json += "]}";
    }
    json += '}';
  } catch (const Json::type_error& error) {
    throw InvalidArgumentError(std::string("tensor name or metadata is not valid UTF-8: ") +
                               error.what());
  }
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  uint64_t length = json.size();
  for (size_t i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return bytes + json;
}

Header read_header(const ReadableFile& file, const std::filesystem::path& path) {
  const uint64_t file_size = file.size();
  if (file_size < 8) {
    throw CorruptDataError(path, "truncated: " + std::to_string(file_size) +
                                     " bytes, too short for the 8-byte header length");
  }
  std::byte length_bytes[8];
  file.read_at(0, length_bytes);
  Header header;
  header.length = read_u64_le(length_bytes);
  if (header.length > kMaxHeaderLength) {
    throw CorruptDataError(path, "header length " + std::to_string(header.length) +
                                     " exceeds the limit of " + std::to_string(kMaxHeaderLength));
  }
  if (header.length > file_size - 8) {
    throw CorruptDataError(path, "truncated: header length " + std::to_string(header.length) +
                                     " but only " + std::to_string(file_size - 8) +
                                     " bytes follow");
  }
  std::string text(header.length, '\0');
  file.read_at(8, std::as_writable_bytes(std::span(text)));
  if (text.empty() || text.front() != '{') {
    throw CorruptDataError(path, "header does not start with '{'");
  }
  std::vector<std::string> order;  // the tensors keep the order of the header's keys
  const Json json = parse_strict_json_sorted(text, kMaxHeaderJsonDepth, path, "header", &order);
  if (!json.is_object()) throw CorruptDataError(path, "header is not a JSON object");

  EntryParser entries(path);
  header.tensors.reserve(order.size());
  for (const std::string& name : order) {
    const Json& value = json.at(name);
    if (name == "__metadata__") {
      if (!value.is_object()) throw CorruptDataError(path, "__metadata__ is not a JSON object");
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string()) {
          throw CorruptDataError(path, "__metadata__ value of '" + key + "' is not a string");
        }
        header.metadata.emplace(key, text_value.get<std::string>());
      }
    } else {
      header.tensors.push_back(entries.parse(name, value));
    }
  }
  check_layout(header.tensors, file_size - header.data_offset(), path);
  return header;
}

uint64_t header_digest(const std::vector<TensorInfo>& tensors, const Metadata& metadata) {
  std::vector<const TensorInfo*> sorted;
  sorted.reserve(tensors.size());
  for (const TensorInfo& tensor : tensors) sorted.push_back(&tensor);
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->name < b->name; });
  std::string canonical;
  for (const TensorInfo* tensor : sorted) {
    canonical += tensor->name;
    canonical += '\0';
    canonical += dtype_name(tensor->dtype);
    canonical += '\0';
    canonical += shape_text(tensor->shape);
    canonical += '\0';
    canonical += std::to_string(tensor->begin) + '\0' + std::to_string(tensor->end) + '\n';
  }
  for (const auto& [key, value] : metadata) {  // std::map: sorted by key
    if (key == kHeaderDigestKey) continue;
    canonical += key;
    canonical += '\0';
    canonical += value;
    canonical += '\n';
  }
  return xxh3(canonical);
}

}  // namespace cairn::format
