// The ranks of a multi-process job as the Checkpointer sees them. The core library knows no MPI:
// it asks a Coordinator for its rank, the number of ranks, and one collective, all_gather, whose
// every wait is bounded. cairn_mpi provides an Open MPI coordinator (cairn/mpi.hpp); the default
// is a single process, rank 0 of 1.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cairn {

class Coordinator {
 public:
  virtual ~Coordinator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every rank calls it, in the same order of calls, with its own text; each gets every rank's
  // text, indexed by rank. `what` names the step for errors ("the commit of <name>"). Throws
  // RankError, naming the ranks that did not arrive, when the wait exceeds the coordinator's
  // bound; the coordinator is unusable afterwards.
  virtual std::vector<std::string> all_gather(const std::string& mine, std::string_view what) = 0;
};

// Rank 0 of 1: all_gather returns {mine}.
Coordinator& single_process_coordinator();

}  // namespace cairn
