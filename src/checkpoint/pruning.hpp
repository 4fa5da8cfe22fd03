// The parts of retention that touch the disk, shared by the Checkpointer and `cairn prune`:
// which checkpoint a restore would use (never deleted), and deleting what the ledger dooms.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cairn/storage.hpp"
#include "checkpoint/ledger.hpp"
#include "storage/staging.hpp"

namespace cairn::checkpoint {

// The newest checkpoint the ledger keeps whose manifest and headers check out, and with
// `verify_data` whose every tensor verifies too; none when no kept checkpoint does.
std::optional<std::string> newest_valid_checkpoint(Storage& storage,
                                                   const std::filesystem::path& serialization_dir,
                                                   const Ledger& ledger, bool verify_data);

// Drops from ledger.doomed the checkpoints already gone (a writer records its deletions only
// with its next ledger write), so that what is left is what still waits to be deleted.
void forget_deleted(Storage& storage, const std::filesystem::path& serialization_dir,
                    Ledger& ledger);

// Deletes every checkpoint in ledger.doomed, except those a reader has pinned (it is restoring
// from them): those stay doomed, for the next attempt, and are returned.
std::vector<std::string> delete_doomed(Storage& storage, storage::StagingArea& staging,
                                       const std::filesystem::path& serialization_dir,
                                       Ledger& ledger);

}  // namespace cairn::checkpoint
