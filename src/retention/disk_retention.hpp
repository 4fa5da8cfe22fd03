// The parts of retention that touch the disk, shared by the Checkpointer and the tools: deciding
// (which needs the checkpoint a restore would use, never deleted) and deleting what the ledger
// dooms.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cairn/storage.hpp"
#include "retention/ledger.hpp"
#include "retention/policy.hpp"
#include "storage/staging.hpp"

namespace cairn::checkpoint {

// What `policy` decides for every checkpoint `ledger` records, applied to `ledger` as a writer's
// save would apply it (callers that only explain pass a copy). Doomed names already deleted are
// dropped first; the newest checkpoint that checks out, its data too with `verify_data`, stays
// unless N is 0.
std::vector<RetentionDecision> decide_retention(Storage& storage,
                                                const std::filesystem::path& serialization_dir,
                                                Ledger& ledger, const RetentionPolicy& policy,
                                                bool verify_data);

// Deletes every checkpoint in ledger.doomed, except those a reader has pinned (it is restoring
// from them): those stay doomed, for the next attempt, and are returned.
std::vector<std::string> delete_doomed(Storage& storage, storage::StagingArea& staging,
                                       const std::filesystem::path& serialization_dir,
                                       Ledger& ledger);

}  // namespace cairn::checkpoint
