#include "checkpoint/manifest.hpp"

#include <cmath>
#include <ctime>

#include <nlohmann/json.hpp>

#include "cairn/error.hpp"
#include "cairn/version.hpp"
#include "format/checksum.hpp"
#include "format/strict_json.hpp"

namespace cairn::checkpoint {
namespace {

using Json = nlohmann::ordered_json;

// save_time is seconds since 1970; a manifest may only hold one that has a calendar date (up to
// the end of year 9999), so that the text for people can always be made and a hostile number
// never reaches the integer conversion.
constexpr double kLastSaveTime = 253402300799.0;  // 9999-12-31T23:59:59Z

bool save_time_in_range(double seconds) { return seconds >= 0.0 && seconds <= kLastSaveTime; }

std::string utc_text(double seconds) {
  std::time_t whole = static_cast<std::time_t>(std::floor(seconds));
  std::tm parts{};
  gmtime_r(&whole, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

Json body(const Manifest& manifest) {
  Json json = Json::object();
  json["format"] = kFormatVersion;
  json["seq"] = manifest.seq;
  json["epoch"] = manifest.epoch;
  json["batches_this_epoch"] =
      manifest.batches_this_epoch ? Json(*manifest.batches_this_epoch) : Json(nullptr);
  json["save_time"] = manifest.save_time;
  json["save_time_utc"] = utc_text(manifest.save_time);  // for people; save_time rules
  json["is_best"] = manifest.is_best;
  json["metrics"] = Json::object();
  for (const auto& [name, value] : manifest.metrics) json["metrics"][name] = value;
  json["files"] = Json::array();
  for (const ManifestFile& file : manifest.files) {
    json["files"].push_back(
        {{"name", file.name}, {"size", file.size}, {"xxh3", format::to_hex16(file.xxh3)}});
  }
  if (manifest.sharded.empty()) return json;
  json["sharded"] = Json::array();
  for (const ShardedTensorLayout& tensor : manifest.sharded) {
    Json pieces = Json::array();
    for (const ShardPiece& piece : tensor.pieces) {
      pieces.push_back({{"file", piece.file},
                        {"tensor", piece.tensor},
                        {"offsets", piece.offsets},
                        {"shape", piece.shape}});
    }
    json["sharded"].push_back({{"path", tensor.path},
                               {"dtype", tensor.dtype},
                               {"global_shape", tensor.global_shape},
                               {"pieces", std::move(pieces)}});
  }
  return json;
}

class Reader {
 public:
  explicit Reader(const std::filesystem::path& path) : path_(path) {}

  [[noreturn]] void fail(const std::string& reason) const {
    throw CorruptDataError(path_, "manifest: " + reason);
  }
  const Json& field(const Json& object, const char* key) const {
    if (!object.is_object() || !object.contains(key)) fail(std::string("missing \"") + key + "\"");
    return object.at(key);
  }
  int64_t integer(const Json& object, const char* key) const {
    const Json& value = field(object, key);
    if (!value.is_number_integer()) fail(std::string("\"") + key + "\" is not an integer");
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      fail(std::string("\"") + key + "\" is out of range");
    }
    return value.get<int64_t>();
  }
  std::string text(const Json& object, const char* key) const {
    const Json& value = field(object, key);
    if (!value.is_string()) fail(std::string("\"") + key + "\" is not a string");
    return value.get<std::string>();
  }
  std::vector<int64_t> integers(const Json& object, const char* key) const {
    const Json& value = field(object, key);
    if (!value.is_array()) fail(std::string("\"") + key + "\" is not a list");
    std::vector<int64_t> result;
    for (const Json& element : value) {
      if (!element.is_number_integer() || element.get<int64_t>() < 0) {
        fail(std::string("\"") + key + "\" holds something other than non-negative integers");
      }
      result.push_back(element.get<int64_t>());
    }
    return result;
  }
  std::vector<std::string> texts(const Json& object, const char* key) const {
    const Json& value = field(object, key);
    if (!value.is_array()) fail(std::string("\"") + key + "\" is not a list");
    std::vector<std::string> result;
    for (const Json& element : value) {
      if (!element.is_string()) fail(std::string("\"") + key + "\" holds a non-string");
      result.push_back(element.get<std::string>());
    }
    return result;
  }
  double number(const Json& value, const std::string& what) const {
    if (!value.is_number()) fail(what + " is not a number");
    return value.get<double>();
  }

 private:
  const std::filesystem::path& path_;
};

}  // namespace

std::string render_manifest(const Manifest& manifest) {
  if (!save_time_in_range(manifest.save_time)) {
    throw InvalidArgumentError("manifest: save_time " + std::to_string(manifest.save_time) +
                               " is not a time between 1970 and the end of year 9999");
  }
  Json json = body(manifest);
  json["manifest_xxh3"] = format::to_hex16(format::xxh3(json.dump(2)));
  return json.dump(2) + "\n";
}

Manifest parse_manifest(std::string_view text, const std::filesystem::path& path) {
  Manifest manifest = parse_manifest_values(text, path);
  // Every byte counts: the text must be exactly what the writer makes of these values.
  if (render_manifest(manifest) != text) {
    throw CorruptDataError(path, "manifest: checksum mismatch: the manifest was altered");
  }
  return manifest;
}

Manifest parse_manifest_values(std::string_view text, const std::filesystem::path& path) {
  Reader reader(path);
  Json json = format::parse_strict_json(text, 8, path, "manifest");
  if (!json.is_object()) reader.fail("not a JSON object");
  if (reader.integer(json, "format") != kFormatVersion) reader.fail("unsupported format version");
  Manifest manifest;
  manifest.seq = reader.integer(json, "seq");
  manifest.epoch = reader.integer(json, "epoch");
  if (!reader.field(json, "batches_this_epoch").is_null()) {
    manifest.batches_this_epoch = reader.integer(json, "batches_this_epoch");
  }
  manifest.save_time = reader.number(reader.field(json, "save_time"), "\"save_time\"");
  if (!save_time_in_range(manifest.save_time)) {
    reader.fail("\"save_time\" lies outside the years 1970..9999");
  }
  const Json& is_best = reader.field(json, "is_best");
  if (!is_best.is_boolean()) reader.fail("\"is_best\" is not a boolean");
  manifest.is_best = is_best.get<bool>();
  const Json& metrics = reader.field(json, "metrics");
  if (!metrics.is_object()) reader.fail("\"metrics\" is not an object");
  for (const auto& [name, value] : metrics.items()) {
    manifest.metrics[name] = reader.number(value, "metric \"" + name + "\"");
  }
  const Json& files = reader.field(json, "files");
  if (!files.is_array()) reader.fail("\"files\" is not a list");
  for (const Json& entry : files) {
    ManifestFile file;
    const Json& name = reader.field(entry, "name");
    if (!name.is_string()) reader.fail("a file name is not a string");
    file.name = name.get<std::string>();
    if (file.name.empty() || file.name == "." || file.name == ".." ||
        file.name.find('/') != std::string::npos || file.name.find('\0') != std::string::npos) {
      reader.fail("file name \"" + file.name + "\" is not a plain name inside the checkpoint");
    }
    int64_t size = reader.integer(entry, "size");
    if (size < 0) reader.fail("negative size for " + file.name);
    file.size = static_cast<uint64_t>(size);
    const Json& hash = reader.field(entry, "xxh3");
    auto parsed = hash.is_string() ? format::parse_hex16(hash.get<std::string>()) : std::nullopt;
    if (!parsed) reader.fail("bad xxh3 for " + file.name);
    file.xxh3 = *parsed;
    manifest.files.push_back(std::move(file));
  }
  if (json.contains("sharded")) {
    const Json& sharded = json.at("sharded");
    if (!sharded.is_array()) reader.fail("\"sharded\" is not a list");
    for (const Json& entry : sharded) {
      ShardedTensorLayout tensor;
      tensor.path = reader.texts(entry, "path");
      tensor.dtype = reader.text(entry, "dtype");
      tensor.global_shape = reader.integers(entry, "global_shape");
      const Json& pieces = reader.field(entry, "pieces");
      if (!pieces.is_array()) reader.fail("\"pieces\" is not a list");
      for (const Json& element : pieces) {
        tensor.pieces.push_back({reader.text(element, "file"), reader.text(element, "tensor"),
                                 reader.integers(element, "offsets"),
                                 reader.integers(element, "shape")});
      }
      manifest.sharded.push_back(std::move(tensor));
    }
  }
  return manifest;
}

}  // namespace cairn::checkpoint
