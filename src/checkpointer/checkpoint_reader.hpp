// The read side of a Checkpointer: which checkpoint is the newest valid one (agreed by every
// rank), restoring it, the best model, and what each checkpoint is.
//
// Choosing the checkpoint to read, with several ranks:
// 1. rank 0 scans checkpoints/ (names, newest first) and names the next candidate to all ranks
// 2. every rank pins the folder (so a writer's retention does not delete it meanwhile), opens it
//    and uses it; each reports read, vanished (deleted before the pin: not corrupt, no warning)
//    or corrupt (why)
// 3. all read: done. Any corrupt: every rank skips it, with a warning naming each rank's
//    problem, and goes on with the next candidate. Only vanished ones: the next candidate, and
//    once none is left, rank 0 scans again (at most 8 scans), as a writer has moved on.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_files.hpp"
#include "checkpointer/candidates.hpp"
#include "checkpointer/context.hpp"
#include "retention/ledger.hpp"

namespace cairn::checkpointer {

class CheckpointReader {
 public:
  explicit CheckpointReader(const Context& context) : context_(context) {}

  using Use = std::function<void(const Candidate&, const checkpoint::OpenedCheckpoint&)>;
  // Runs `use` on the newest checkpoint that opens and passes it on every rank (protocol
  // above). Returns false when none does.
  bool with_newest_valid(const Use& use) const;

  // The newest checkpoint whose every tensor verifies (ranks share the reading).
  std::optional<CheckpointPaths> find_latest() const;
  // The newest valid checkpoint's states (null when there is none), sharded tensors cut to
  // `slices`, tensors `into` holds as writable views read into them; `restored` is what it read.
  // `ledger` gives the directory's ledger, asked once a checkpoint is read.
  CheckpointState restore(const SliceRequest& slices, const CheckpointState& into,
                          const std::function<checkpoint::Ledger()>& ledger,
                          std::optional<CheckpointInfo>& restored) const;
  // The model state of best/, or null when there is none.
  State best_model_state() const;
  // The ledger's checkpoints that open, oldest first (the others are reported).
  std::vector<CheckpointInfo> list(const checkpoint::Ledger& ledger) const;

 private:
  // This rank's verdict on one candidate, `use` run on it.
  ReadVerdict try_candidate(const std::string& folder, const Use& use) const;
  CheckpointPaths paths_of(const std::string& folder) const;
  // What a checkpoint's name, manifest and the ledger tell of it.
  CheckpointInfo info_of(const Candidate& candidate, const checkpoint::OpenedCheckpoint& opened,
                         const checkpoint::Ledger& recorded, bool permanent) const;

  const Context& context_;
};

}  // namespace cairn::checkpointer
