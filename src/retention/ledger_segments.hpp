// The ledger's segments: runs of the oldest entries of `queue`, `permanent` and `retained`, each
// in a file of its own in retention-segments/ that is written once and never changed, so that
// what a save rewrites does not grow with the number of checkpoints kept (docs/format.md).
// (`retained` is decided again at every save; its segments stay as long as what is retained
// stays, and are written anew when an entry leaves it: rare for the every-n-th-epoch policy,
// which retains the many; best-k retains only k.)
//
// A list's segments hold its oldest entries in save order, one run after the other. Entries
// gather in retention.json until kSegmentEntries of them are there; they then move into a new
// segment, and the newest two segments are merged while the newer holds at least as many entries
// as the one before (a binary counter): a list of n entries has at most log2(n / 64) + 1
// segments, and each entry is rewritten about log2(n / 64) times over all the saves.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/error.hpp"
#include "cairn/storage.hpp"
#include "retention/ledger.hpp"

namespace cairn::checkpoint {

using LedgerJson = nlohmann::ordered_json;

// Entries gathered in retention.json before they move into a segment.
inline constexpr size_t kSegmentEntries = 64;

// The entries as JSON (retention.json and its segments write them alike), and back. Every name
// must be a checkpoint name (CorruptDataError naming `path` otherwise).
LedgerJson entries_to_json(const std::vector<LedgerEntry>& entries, size_t begin, size_t end);
std::vector<LedgerEntry> entries_from_json(const LedgerJson& list, const std::filesystem::path& path);
const std::string& check_checkpoint_name(const std::string& name, const std::filesystem::path& path);

// How many of the oldest entries of ledger.queue, .permanent or .retained the segments hold.
size_t sealed_entries(const Ledger& ledger, std::string_view list);

// Matches ledger.segments to the entries in memory: drops the queue segments all of whose
// entries have left the queue, counts queue_left, and forgets every segment of a list whose
// entries no longer match them (the next seal writes them anew).
void refresh_segments(Ledger& ledger);

// Moves the entries that gathered after the segments into a new segment when there are
// kSegmentEntries of them, then merges (above). Each new file is durable before it returns.
// Does nothing where retention-segments/ is not cairn's own folder (everything stays in
// retention.json).
void seal_segments(Storage& storage, const std::filesystem::path& dir, Ledger& ledger);

// retention.json's "segments": each segment's list, file, first_seq, last_seq, entries, xxh3.
LedgerJson segments_to_json(const Ledger& ledger);

// A segment retention.json names is missing: a writer may have merged it away since the ledger
// was read; read the ledger again.
class MissingSegmentError final : public CorruptDataError {
 public:
  using CorruptDataError::CorruptDataError;
};

// Reads the segments `refs` names into the front of ledger.queue, .permanent and .retained,
// checking each file's XXH3 and entries against its reference, and drops the first
// `queue_left` queue entries. `path` is retention.json's, for errors.
void load_segments(Storage& storage, const std::filesystem::path& dir, const LedgerJson& refs,
                   size_t queue_left, Ledger& ledger, const std::filesystem::path& path);

// Deletes what retention-segments/ holds that `ledger` does not name (left by a writer that
// crashed between writing a segment and the ledger); a writer calls it once it has the lock.
// Leaves a retention-segments/ that is not cairn's own alone.
void remove_stray_segments(Storage& storage, const std::filesystem::path& dir, const Ledger& ledger);

}  // namespace cairn::checkpoint
