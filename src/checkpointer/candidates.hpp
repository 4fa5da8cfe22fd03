// The checkpoint folders of a directory, found by their names (whatever the ledger says); each
// opens with checkpoint::open_published, which checks that its manifest belongs to its name.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cairn/storage.hpp"
#include "checkpoint/layout.hpp"

namespace cairn::checkpointer {

struct Candidate {
  checkpoint::CheckpointName name;
  std::string folder;
};

// The folders of `checkpoints_dir` named as checkpoints, newest first; none when it is missing.
std::vector<Candidate> scan_checkpoints(Storage& storage,
                                        const std::filesystem::path& checkpoints_dir);

}  // namespace cairn::checkpointer
