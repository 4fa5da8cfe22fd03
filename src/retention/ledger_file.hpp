// retention.json and its segments on disk: reading the ledger (checked, segments included) and
// replacing it atomically (docs/format.md).
#pragma once

#include <filesystem>
#include <optional>

#include "cairn/storage.hpp"
#include "retention/ledger.hpp"

namespace cairn::checkpoint {

// Reads <dir>/retention.json; nullopt when there is none. Throws CorruptDataError when it exists
// but is damaged. Ledgers written before the policies of docs/retention.md existed (no
// "retained", "metrics" or best-k keys) read as having none.
std::optional<Ledger> read_ledger(Storage& storage, const std::filesystem::path& dir);
// Replaces <dir>/retention.json atomically and durably, after moving the oldest entries into new
// segments (written durably first) where enough have gathered; segment files it no longer names
// are deleted after. Updates ledger.segments and ledger.segments_on_disk.
void write_ledger(Storage& storage, const std::filesystem::path& dir, Ledger& ledger);

}  // namespace cairn::checkpoint
