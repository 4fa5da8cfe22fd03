#include "checkpoint/ledger.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "cairn/error.hpp"
#include "cairn/version.hpp"
#include "checkpoint/layout.hpp"
#include "format/checksum.hpp"
#include "format/strict_json.hpp"
#include "storage/atomic_file.hpp"

namespace cairn::checkpoint {
namespace {

using Json = nlohmann::ordered_json;

Json entries_to_json(const std::vector<LedgerEntry>& entries) {
  Json list = Json::array();
  for (const LedgerEntry& entry : entries) {
    list.push_back({{"name", entry.name}, {"save_time", entry.save_time}});
  }
  return list;
}

std::string render(const Ledger& ledger) {
  Json json = Json::object();
  json["format"] = kFormatVersion;
  json["next_seq"] = ledger.next_seq;
  json["reference_time"] = ledger.reference_time;
  json["queue"] = entries_to_json(ledger.queue);
  json["permanent"] = entries_to_json(ledger.permanent);
  json["pending"] = entries_to_json(ledger.pending);
  json["doomed"] = ledger.doomed;
  json["best"] = ledger.best ? Json(*ledger.best) : Json(nullptr);
  json["num_serialized_models_to_keep"] = ledger.num_serialized_models_to_keep
                                              ? Json(*ledger.num_serialized_models_to_keep)
                                              : Json(nullptr);
  json["keep_serialized_model_every_num_seconds"] =
      ledger.keep_serialized_model_every_num_seconds
          ? Json(*ledger.keep_serialized_model_every_num_seconds)
          : Json(nullptr);
  json["ledger_xxh3"] = format::to_hex16(format::xxh3(json.dump(2)));
  return json.dump(2) + "\n";
}

std::vector<LedgerEntry> entries_from_json(const Json& list, const std::filesystem::path& path) {
  std::vector<LedgerEntry> entries;
  for (const Json& item : list) {
    entries.push_back({item.at("name").get<std::string>(), item.at("save_time").get<double>()});
    if (!parse_checkpoint_name(entries.back().name)) {
      throw CorruptDataError(path, "ledger names \"" + entries.back().name +
                                       "\", which is not a checkpoint name");
    }
  }
  return entries;
}

}  // namespace

bool Ledger::owns(const std::string& name) const {
  auto has = [&](const std::vector<LedgerEntry>& entries) {
    return std::any_of(entries.begin(), entries.end(),
                       [&](const LedgerEntry& entry) { return entry.name == name; });
  };
  return has(queue) || has(permanent) || has(pending) ||
         std::find(doomed.begin(), doomed.end(), name) != doomed.end();
}

std::optional<Ledger> read_ledger(Storage& storage, const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kLedgerFile;
  if (!storage.exists(path)) return std::nullopt;
  auto file = storage.open_file(path);
  if (file->size() > 64 * 1024 * 1024) throw CorruptDataError(path, "ledger is too large");
  std::string text(file->size(), '\0');
  file->read_at(0, std::as_writable_bytes(std::span(text)));
  Json json = format::parse_strict_json(text, 6, path, "ledger");
  try {
    Ledger ledger;
    if (json.at("format").get<int>() != kFormatVersion) {
      throw CorruptDataError(path, "unsupported ledger format");
    }
    ledger.next_seq = json.at("next_seq").get<int64_t>();
    ledger.reference_time = json.at("reference_time").get<double>();
    ledger.queue = entries_from_json(json.at("queue"), path);
    ledger.permanent = entries_from_json(json.at("permanent"), path);
    ledger.pending = entries_from_json(json.at("pending"), path);
    ledger.doomed = json.at("doomed").get<std::vector<std::string>>();
    if (!json.at("best").is_null()) ledger.best = json.at("best").get<std::string>();
    if (!json.at("num_serialized_models_to_keep").is_null()) {
      ledger.num_serialized_models_to_keep = json.at("num_serialized_models_to_keep").get<int>();
    }
    if (!json.at("keep_serialized_model_every_num_seconds").is_null()) {
      ledger.keep_serialized_model_every_num_seconds =
          json.at("keep_serialized_model_every_num_seconds").get<double>();
    }
    if (render(ledger) != text) throw CorruptDataError(path, "ledger checksum mismatch");
    return ledger;
  } catch (const Json::exception& error) {
    throw CorruptDataError(path, std::string("malformed ledger: ") + error.what());
  }
}

void write_ledger(Storage& storage, const std::filesystem::path& dir, const Ledger& ledger) {
  const std::string text = render(ledger);
  storage::write_file_atomically(storage, dir / kLedgerFile, [&](WritableFile& out) {
    out.append(std::as_bytes(std::span(text)));
  });
}

}  // namespace cairn::checkpoint
