#include "retention/ledger_segments.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <set>
#include <utility>

#include "cairn/version.hpp"
#include "checkpoint/layout.hpp"
#include "format/checksum.hpp"
#include "format/strict_json.hpp"
#include "storage/atomic_file.hpp"
#include "storage/owned_folder.hpp"

namespace cairn::checkpoint {
namespace {

namespace fs = std::filesystem;

constexpr const char* kQueue = "queue";
constexpr const char* kPermanent = "permanent";
constexpr const char* kRetained = "retained";
// The lists with segments, in the order their segments stand in ledger.segments.
constexpr const char* kSealedLists[] = {kQueue, kPermanent, kRetained};
constexpr uint64_t kMaxSegmentBytes = 64 * 1024 * 1024;

// Every entry in memory has a checkpoint name (the writer makes them; read_ledger checks them).
int64_t seq_of(const LedgerEntry& entry) {
  const auto name = parse_checkpoint_name(entry.name);
  return name ? name->seq : -1;
}

std::vector<LedgerEntry>& entries_of(Ledger& ledger, std::string_view list) {
  return list == kQueue ? ledger.queue : list == kPermanent ? ledger.permanent : ledger.retained;
}

const std::vector<LedgerEntry>& entries_of(const Ledger& ledger, std::string_view list) {
  return list == kQueue ? ledger.queue : list == kPermanent ? ledger.permanent : ledger.retained;
}

// Where `list` stands in kSealedLists; -1 for none.
int list_rank(std::string_view list) {
  for (int rank = 0; rank < 3; ++rank) {
    if (list == kSealedLists[rank]) return rank;
  }
  return -1;
}

// Indices into ledger.segments of `list`'s segments, oldest first.
std::vector<size_t> segments_of(const Ledger& ledger, std::string_view list) {
  std::vector<size_t> indices;
  for (size_t i = 0; i < ledger.segments.size(); ++i) {
    if (ledger.segments[i].list == list) indices.push_back(i);
  }
  return indices;
}

// Positions [first, second) of the segment's entries among `entries` (in save order), found
// by their sequence numbers: log n, whatever the count.
std::pair<size_t, size_t> span_of(const std::vector<LedgerEntry>& entries,
                                  const LedgerSegment& segment) {
  const auto begin = std::lower_bound(
      entries.begin(), entries.end(), segment.first_seq,
      [](const LedgerEntry& entry, int64_t seq) { return seq_of(entry) < seq; });
  const auto end = std::upper_bound(
      begin, entries.end(), segment.last_seq,
      [](int64_t seq, const LedgerEntry& entry) { return seq < seq_of(entry); });
  return {static_cast<size_t>(begin - entries.begin()), static_cast<size_t>(end - entries.begin())};
}

// Entries of segment `index` still in its list (the oldest queue segment loses its first ones
// as they leave the queue).
size_t live_entries(const Ledger& ledger, size_t index) {
  const LedgerSegment& segment = ledger.segments[index];
  const bool oldest_queue = segment.list == kQueue && index == 0;
  return segment.entries - (oldest_queue ? ledger.queue_left : 0);
}

bool in_save_order(const std::vector<LedgerEntry>& entries, size_t begin, int64_t after) {
  for (size_t i = begin; i < entries.size(); ++i) {
    const int64_t seq = seq_of(entries[i]);
    if (seq <= after) return false;
    after = seq;
  }
  return true;
}

// "<list>-<first seq>-<last seq>-<xxh3>.json": the content is in the name, so a segment
// written anew never replaces a file the ledger on disk still names.
bool is_segment_file_name(std::string_view name) {
  for (std::string_view list : kSealedLists) {
    if (!name.starts_with(list) || name.size() != list.size() + 1 + 10 + 1 + 10 + 1 + 16 + 5) {
      continue;
    }
    std::string_view rest = name.substr(list.size());
    auto digits = [](std::string_view text, size_t count, bool hex) {
      for (size_t i = 0; i < count; ++i) {
        const char c = text[i];
        if (!((c >= '0' && c <= '9') || (hex && c >= 'a' && c <= 'f'))) return false;
      }
      return true;
    };
    return rest[0] == '-' && digits(rest.substr(1), 10, false) && rest[11] == '-' &&
           digits(rest.substr(12), 10, false) && rest[22] == '-' &&
           digits(rest.substr(23), 16, true) && rest.substr(39) == ".json";
  }
  return false;
}

std::string segment_file_name(const LedgerSegment& segment) {
  return segment.list + "-" + format_seq(segment.first_seq) + "-" + format_seq(segment.last_seq) +
         "-" + segment.xxh3 + ".json";
}

// Writes entries [begin, end) of `list` as a new segment file, durably.
LedgerSegment write_segment(Storage& storage, const fs::path& folder, std::string_view list,
                            const std::vector<LedgerEntry>& entries, size_t begin, size_t end) {
  LedgerJson json = LedgerJson::object();
  json["format"] = kFormatVersion;
  json["list"] = list;
  json["entries"] = entries_to_json(entries, begin, end);
  const std::string text = json.dump(2) + "\n";
  LedgerSegment segment;
  segment.list = std::string(list);
  segment.first_seq = seq_of(entries[begin]);
  segment.last_seq = seq_of(entries[end - 1]);
  segment.entries = end - begin;
  segment.xxh3 = format::to_hex16(format::xxh3(text));
  segment.file = segment_file_name(segment);
  for (size_t i = begin; i < end; ++i) {
    segment.latest_save_time = std::max(segment.latest_save_time, entries[i].save_time);
  }
  storage::write_file_atomically(storage, folder / segment.file, [&](WritableFile& out) {
    out.append(std::as_bytes(std::span(text)));
  });
  return segment;
}

}  // namespace

LedgerJson entries_to_json(const std::vector<LedgerEntry>& entries, size_t begin, size_t end) {
  LedgerJson list = LedgerJson::array();
  for (size_t i = begin; i < end; ++i) {
    const LedgerEntry& entry = entries[i];
    LedgerJson item = {{"name", entry.name}, {"save_time", entry.save_time}};
    if (!entry.metrics.empty()) item["metrics"] = entry.metrics;
    list.push_back(std::move(item));
  }
  return list;
}

std::vector<LedgerEntry> entries_from_json(const LedgerJson& list, const fs::path& path) {
  std::vector<LedgerEntry> entries;
  for (const LedgerJson& item : list) {
    LedgerEntry entry{item.at("name").get<std::string>(), item.at("save_time").get<double>(), {}};
    if (item.contains("metrics")) entry.metrics = item.at("metrics").get<Metrics>();
    check_checkpoint_name(entry.name, path);
    entries.push_back(std::move(entry));
  }
  return entries;
}

// Every name the ledger lists must be a checkpoint name: the writer deletes the doomed ones,
// and a path such as "../../victim" must never reach a deletion.
const std::string& check_checkpoint_name(const std::string& name, const fs::path& path) {
  if (!parse_checkpoint_name(name)) {
    throw CorruptDataError(path, "ledger names \"" + name + "\", which is not a checkpoint name");
  }
  return name;
}

size_t sealed_entries(const Ledger& ledger, std::string_view list) {
  const std::vector<size_t> indices = segments_of(ledger, list);
  if (indices.empty()) return 0;
  return span_of(entries_of(ledger, list), ledger.segments[indices.back()]).second;
}

void refresh_segments(Ledger& ledger) {
  std::vector<LedgerSegment> refreshed;
  size_t queue_left = 0;
  for (const char* list : kSealedLists) {
    const std::vector<LedgerEntry>& entries = entries_of(ledger, list);
    std::vector<LedgerSegment> live;
    size_t position = 0;
    size_t left = 0;
    bool matches = true;
    for (size_t index : segments_of(ledger, list)) {
      const LedgerSegment& segment = ledger.segments[index];
      const auto [begin, end] = span_of(entries, segment);
      const size_t present = end - begin;
      // Entries leave only the queue, and only from its front: its oldest segment loses some.
      const bool may_lose_some = list == kQueue && live.empty();
      if (begin != position || present > segment.entries ||
          (!may_lose_some && present != segment.entries) ||
          (present > 0 && seq_of(entries[end - 1]) != segment.last_seq)) {
        matches = false;
        break;
      }
      if (present == 0) continue;  // every entry left the queue: the file is no longer needed
      if (may_lose_some) left = segment.entries - present;
      live.push_back(segment);
      position = end;
    }
    if (!matches) continue;
    if (list == kQueue) queue_left = live.empty() ? 0 : left;
    refreshed.insert(refreshed.end(), live.begin(), live.end());
  }
  ledger.segments = std::move(refreshed);
  ledger.queue_left = queue_left;
}

void seal_segments(Storage& storage, const fs::path& dir, Ledger& ledger) {
  refresh_segments(ledger);
  const fs::path folder = dir / kLedgerSegmentsDir;
  bool claimed = false;
  for (const char* list : kSealedLists) {
    const std::vector<LedgerEntry>& entries = entries_of(ledger, list);
    const size_t sealed = sealed_entries(ledger, list);
    if (entries.size() - sealed < kSegmentEntries) continue;
    const std::vector<size_t> indices = segments_of(ledger, list);
    const int64_t after = indices.empty() ? -1 : ledger.segments[indices.back()].last_seq;
    if (!in_save_order(entries, sealed, after)) continue;  // never the case; then kept inline
    if (!claimed) {
      try {
        storage::claim_folder(storage, folder);
      } catch (const InvalidArgumentError&) {
        return;  // someone else's folder: every entry stays in retention.json
      }
      claimed = true;
    }
    // The new run takes in the newest segments while it holds at least as many entries as each
    // (the merges of a binary counter, planned first so that only the result is written).
    size_t merged = 0;
    size_t run = entries.size() - sealed;
    while (merged < indices.size() && run >= live_entries(ledger, indices[indices.size() - 1 - merged])) {
      run += live_entries(ledger, indices[indices.size() - 1 - merged]);
      ++merged;
    }
    const size_t first_merged = indices.size() - merged;
    const size_t begin =
        merged == 0 ? sealed : span_of(entries, ledger.segments[indices[first_merged]]).first;
    LedgerSegment segment = write_segment(storage, folder, list, entries, begin, entries.size());
    if (list == kQueue && merged == indices.size()) ledger.queue_left = 0;
    // ledger.segments holds each list's segments together, the lists in kSealedLists' order.
    size_t at = 0;
    if (first_merged < indices.size()) {
      at = indices[first_merged];
    } else if (!indices.empty()) {
      at = indices.back() + 1;
    } else {
      while (at < ledger.segments.size() && list_rank(ledger.segments[at].list) < list_rank(list)) ++at;
    }
    ledger.segments.erase(ledger.segments.begin() + static_cast<std::ptrdiff_t>(at),
                          ledger.segments.begin() + static_cast<std::ptrdiff_t>(at + merged));
    ledger.segments.insert(ledger.segments.begin() + static_cast<std::ptrdiff_t>(at),
                           std::move(segment));
  }
}

LedgerJson segments_to_json(const Ledger& ledger) {
  LedgerJson refs = LedgerJson::array();
  for (const LedgerSegment& segment : ledger.segments) {
    refs.push_back({{"list", segment.list},
                    {"file", segment.file},
                    {"first_seq", segment.first_seq},
                    {"last_seq", segment.last_seq},
                    {"entries", segment.entries},
                    {"xxh3", segment.xxh3}});
  }
  return refs;
}

void load_segments(Storage& storage, const fs::path& dir, const LedgerJson& refs,
                   size_t queue_left, Ledger& ledger, const fs::path& path) {
  if (!refs.is_array()) throw CorruptDataError(path, "ledger's segments are not a list");
  std::vector<LedgerEntry> sealed[3];  // per list, in kSealedLists' order
  int previous_rank = 0;
  for (const LedgerJson& ref : refs) {
    LedgerSegment segment;
    segment.list = ref.at("list").get<std::string>();
    segment.file = ref.at("file").get<std::string>();
    segment.first_seq = format::integer_field(ref, "first_seq", 0, kMaxSeq, path, "ledger segment");
    segment.last_seq = format::integer_field(ref, "last_seq", 0, kMaxSeq, path, "ledger segment");
    segment.entries = static_cast<size_t>(
        format::integer_field(ref, "entries", 1, kMaxSeq + 1, path, "ledger segment"));
    segment.xxh3 = ref.at("xxh3").get<std::string>();
    const int rank = list_rank(segment.list);
    if (rank < 0) throw CorruptDataError(path, "ledger names a segment of an unknown list");
    if (rank < previous_rank) {
      throw CorruptDataError(path, "ledger names a " + segment.list + " segment after a " +
                                       kSealedLists[previous_rank] + " one");
    }
    previous_rank = rank;
    if (!is_segment_file_name(segment.file) || segment.file != segment_file_name(segment)) {
      throw CorruptDataError(path, "ledger names \"" + segment.file +
                                       "\", which is not a segment file name (or not this one's)");
    }
    const fs::path file = dir / kLedgerSegmentsDir / segment.file;
    std::string text;
    try {
      auto in = storage.open_file(file);
      if (in->size() > kMaxSegmentBytes) throw CorruptDataError(file, "ledger segment is too large");
      text.resize(in->size());
      in->read_at(0, std::as_writable_bytes(std::span(text)));
    } catch (const IoError& error) {
      if (error.error_code() == ENOENT) {
        throw MissingSegmentError(file, "missing (" + path.string() + " names it)");
      }
      // A folder, or unreadable: the ledger cannot be read whole, which makes it damaged.
      throw CorruptDataError(file, std::string("cannot read this ledger segment: ") + error.what());
    }
    if (format::to_hex16(format::xxh3(text)) != segment.xxh3) {
      throw CorruptDataError(file, "ledger segment checksum mismatch");
    }
    const LedgerJson json = format::parse_strict_json(text, 6, file, "ledger segment");
    if (format::integer_field(json, "format", 0, INT32_MAX, file, "ledger segment") != kFormatVersion ||
        json.at("list") != segment.list) {
      throw CorruptDataError(file, "not a segment of the ledger's " + segment.list);
    }
    std::vector<LedgerEntry> entries = entries_from_json(json.at("entries"), file);
    std::vector<LedgerEntry>& into = sealed[rank];
    const int64_t after = into.empty() ? -1 : seq_of(into.back());
    if (entries.size() != segment.entries || entries.empty() ||
        seq_of(entries.front()) != segment.first_seq || seq_of(entries.back()) != segment.last_seq ||
        !in_save_order(entries, 0, after)) {
      throw CorruptDataError(file, "ledger segment does not hold what the ledger says it holds");
    }
    for (LedgerEntry& entry : entries) {
      segment.latest_save_time = std::max(segment.latest_save_time, entry.save_time);
      into.push_back(std::move(entry));
    }
    ledger.segments_on_disk.push_back(segment.file);
    ledger.segments.push_back(std::move(segment));
  }
  const bool has_queue_segment = !ledger.segments.empty() && ledger.segments[0].list == kQueue;
  if (queue_left > (has_queue_segment ? ledger.segments[0].entries : 0)) {
    throw CorruptDataError(path, "ledger's queue_left exceeds its first queue segment");
  }
  sealed[0].erase(sealed[0].begin(), sealed[0].begin() + static_cast<std::ptrdiff_t>(queue_left));
  ledger.queue_left = queue_left;
  for (int rank = 0; rank < 3; ++rank) {
    std::vector<LedgerEntry>& live = entries_of(ledger, kSealedLists[rank]);
    if (!sealed[rank].empty() && !in_save_order(live, 0, seq_of(sealed[rank].back()))) {
      throw CorruptDataError(path, "ledger's entries are not in save order after its segments");
    }
    sealed[rank].insert(sealed[rank].end(), std::make_move_iterator(live.begin()),
                        std::make_move_iterator(live.end()));
    live = std::move(sealed[rank]);
  }
}

void remove_stray_segments(Storage& storage, const fs::path& dir, const Ledger& ledger) {
  const fs::path folder = dir / kLedgerSegmentsDir;
  if (!storage.exists(folder / kOwnerMarker)) return;  // none, or not cairn's
  std::set<std::string> named;
  for (const LedgerSegment& segment : ledger.segments) named.insert(segment.file);
  for (const DirEntry& entry : storage.list(folder)) {
    if (entry.name == kOwnerMarker || named.contains(entry.name)) continue;
    storage.remove_owned(folder / entry.name);
  }
}

// A Ledger method that lives with the segments: a future time inside a sealed segment means
// that list's segments are written anew.
size_t Ledger::clamp_future_times(double now) {
  size_t clamped = 0;
  auto clamp = [&](double& time) {
    if (time > now) {
      time = now;
      ++clamped;
    }
  };
  clamp(reference_time);
  for (const auto& [list_name, entries] : {std::pair{"queue", &queue},
                                           std::pair{"permanent", &permanent},
                                           std::pair{"retained", &retained}}) {
    const std::string_view list = list_name;  // (clang before 16 cannot capture a binding)
    const bool sealed_future = std::any_of(segments.begin(), segments.end(), [&](const auto& segment) {
      return segment.list == list && segment.latest_save_time > now;
    });
    const size_t from = sealed_future ? 0 : sealed_entries(*this, list);
    if (sealed_future) {  // those segments are written anew, with the times clamped
      std::erase_if(segments, [&](const LedgerSegment& segment) { return segment.list == list; });
      if (list == "queue") queue_left = 0;
    }
    for (size_t i = from; i < entries->size(); ++i) clamp((*entries)[i].save_time);
  }
  for (LedgerEntry& entry : pending) clamp(entry.save_time);
  return clamped;
}

}  // namespace cairn::checkpoint
