#include "retention/ledger_file.hpp"

#include <algorithm>
#include <cstdint>
#include <set>

#include <nlohmann/json.hpp>

#include "cairn/error.hpp"
#include "cairn/version.hpp"
#include "checkpoint/layout.hpp"
#include "retention/ledger_segments.hpp"
#include "format/checksum.hpp"
#include "format/strict_json.hpp"
#include "storage/atomic_file.hpp"

namespace cairn::checkpoint {
namespace {

using Json = LedgerJson;
constexpr const char* kChecksumKey = "ledger_xxh3";

template <typename T>
Json optional_json(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

std::string checksum_of(const Json& json_without_checksum) {
  return format::to_hex16(format::xxh3(json_without_checksum.dump(2)));
}

std::string render(const Ledger& ledger) {
  Json json = Json::object();
  json["format"] = kFormatVersion;
  json["next_seq"] = ledger.next_seq;
  json["reference_time"] = ledger.reference_time;
  if (!ledger.segments.empty()) {
    json["segments"] = segments_to_json(ledger);
    json["queue_left"] = ledger.queue_left;
  }
  auto unsealed = [&](const std::vector<LedgerEntry>& entries, std::string_view list) {
    return entries_to_json(entries, sealed_entries(ledger, list), entries.size());
  };
  json["queue"] = unsealed(ledger.queue, "queue");
  json["permanent"] = unsealed(ledger.permanent, "permanent");
  json["retained"] = unsealed(ledger.retained, "retained");
  json["pending"] = entries_to_json(ledger.pending, 0, ledger.pending.size());
  json["doomed"] = ledger.doomed;
  json["best"] = optional_json(ledger.best);
  if (ledger.best_pending) json["best_pending"] = *ledger.best_pending;
  const RetentionPolicy& policy = ledger.policy;
  json["num_serialized_models_to_keep"] = optional_json(policy.keep_last);
  json["keep_serialized_model_every_num_seconds"] = optional_json(policy.keep_every_seconds);
  json["keep_best_k"] = optional_json(policy.keep_best_k);
  json["metric"] = policy.metric;
  json["mode"] = metric_mode_name(policy.mode);
  json["keep_every_n_epochs"] = optional_json(policy.keep_every_n_epochs);
  json[kChecksumKey] = checksum_of(json);
  return json.dump(2) + "\n";
}

template <typename T>
std::optional<T> optional_field(const Json& json, const char* key) {
  if (!json.contains(key) || json.at(key).is_null()) return std::nullopt;
  return json.at(key).get<T>();
}

std::optional<int> optional_int(const Json& json, const char* key, const std::filesystem::path& path) {
  if (!json.contains(key) || json.at(key).is_null()) return std::nullopt;
  return static_cast<int>(format::integer_field(json, key, INT32_MIN, INT32_MAX, path, "ledger"));
}

// Kept entries in save order, and each name once in the whole ledger: a forged ledger that
// breaks these is damaged (retention and the segments rely on them).
void check_names(const Ledger& ledger, const std::filesystem::path& path) {
  std::set<std::string> seen;
  auto once = [&](const std::string& name) {
    if (!seen.insert(name).second) throw CorruptDataError(path, "ledger names " + name + " twice");
  };
  for (const auto* list : {&ledger.queue, &ledger.permanent, &ledger.retained}) {
    int64_t previous = -1;
    for (const LedgerEntry& entry : *list) {
      once(entry.name);
      const int64_t seq = parse_checkpoint_name(entry.name)->seq;
      if (seq <= previous) throw CorruptDataError(path, "ledger's entries are not in save order");
      previous = seq;
    }
  }
  for (const LedgerEntry& entry : ledger.pending) once(entry.name);
  for (const std::string& name : ledger.doomed) once(name);
}

// The checksum covers the JSON as written; keys added by later versions of this file are
// optional, so older ledgers still read.
void check_integrity(Json json, const std::string& text, const std::filesystem::path& path) {
  if (!json.contains(kChecksumKey) || !json.at(kChecksumKey).is_string()) {
    throw CorruptDataError(path, "ledger has no checksum");
  }
  const std::string stored = json.at(kChecksumKey).get<std::string>();
  if (json.dump(2) + "\n" != text) throw CorruptDataError(path, "ledger checksum mismatch");
  json.erase(kChecksumKey);
  if (checksum_of(json) != stored) throw CorruptDataError(path, "ledger checksum mismatch");
}

}  // namespace

namespace {

std::optional<Ledger> read_ledger_once(Storage& storage, const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kLedgerFile;
  if (!storage.exists(path)) return std::nullopt;
  auto file = storage.open_file(path);
  if (file->size() > 64 * 1024 * 1024) throw CorruptDataError(path, "ledger is too large");
  std::string text(file->size(), '\0');
  file->read_at(0, std::as_writable_bytes(std::span(text)));
  Json json = format::parse_strict_json(text, 6, path, "ledger");
  try {
    check_integrity(json, text, path);
    Ledger ledger;
    if (format::integer_field(json, "format", 0, INT32_MAX, path, "ledger") != kFormatVersion) {
      throw CorruptDataError(path, "unsupported ledger format");
    }
    ledger.next_seq = format::integer_field(json, "next_seq", 0, kMaxSeq + 1, path, "ledger");
    ledger.reference_time = json.at("reference_time").get<double>();
    ledger.queue = entries_from_json(json.at("queue"), path);
    ledger.permanent = entries_from_json(json.at("permanent"), path);
    if (json.contains("retained")) ledger.retained = entries_from_json(json.at("retained"), path);
    if (json.contains("segments")) {
      const auto queue_left = format::integer_field(json, "queue_left", 0, INT64_MAX, path, "ledger");
      load_segments(storage, dir, json.at("segments"), static_cast<size_t>(queue_left), ledger, path);
    }
    ledger.pending = entries_from_json(json.at("pending"), path);
    ledger.doomed = json.at("doomed").get<std::vector<std::string>>();
    for (const std::string& name : ledger.doomed) check_checkpoint_name(name, path);
    ledger.best = optional_field<std::string>(json, "best");
    if (ledger.best) check_checkpoint_name(*ledger.best, path);
    ledger.best_pending = optional_field<std::string>(json, "best_pending");
    if (ledger.best_pending) check_checkpoint_name(*ledger.best_pending, path);
    RetentionPolicy& policy = ledger.policy;
    policy.keep_last = optional_int(json, "num_serialized_models_to_keep", path);
    policy.keep_every_seconds = optional_field<double>(json, "keep_serialized_model_every_num_seconds");
    policy.keep_best_k = optional_int(json, "keep_best_k", path);
    policy.metric = optional_field<std::string>(json, "metric").value_or("");
    const std::string mode = optional_field<std::string>(json, "mode").value_or("min");
    const std::optional<MetricMode> parsed = metric_mode_from_name(mode);
    if (!parsed) throw CorruptDataError(path, "ledger has an unknown mode \"" + mode + "\"");
    policy.mode = *parsed;
    policy.keep_every_n_epochs = optional_int(json, "keep_every_n_epochs", path);
    check_names(ledger, path);
    return ledger;
  } catch (const Json::exception& error) {
    throw CorruptDataError(path, std::string("malformed ledger: ") + error.what());
  }
}

}  // namespace

// A writer may merge a segment away between our reading retention.json and the segment: the
// ledger it wrote first names the new one, so reading again finds it.
std::optional<Ledger> read_ledger(Storage& storage, const std::filesystem::path& dir) {
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    try {
      return read_ledger_once(storage, dir);
    } catch (const MissingSegmentError&) {
      if (attempt == kAttempts) throw;
    }
  }
}

void write_ledger(Storage& storage, const std::filesystem::path& dir, Ledger& ledger) {
  seal_segments(storage, dir, ledger);
  const std::string text = render(ledger);
  storage::write_file_atomically(storage, dir / kLedgerFile, [&](WritableFile& out) {
    out.append(std::as_bytes(std::span(text)));
  });
  std::vector<std::string> named;
  for (const LedgerSegment& segment : ledger.segments) named.push_back(segment.file);
  if (named != ledger.segments_on_disk) {
    // Merged away, left the queue, written anew, or written by a write that failed later: a
    // file left now (the sweep failing) goes at the next change or the next writer's start.
    storage::cleanup_quietly([&] { remove_stray_segments(storage, dir, ledger); });
  }
  ledger.segments_on_disk = std::move(named);
}

}  // namespace cairn::checkpoint
