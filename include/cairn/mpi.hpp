// The Open MPI coordinator (library cairn_mpi, built with CAIRN_BUILD_MPI): lets every rank of
// an MPI job save into and restore from one checkpoint directory (docs/sharding.md).
//
//   MPI_Init(&argc, &argv);
//   cairn::MpiCoordinator ranks;                 // MPI_COMM_WORLD, waits bounded by 10 minutes
//   options.coordinator = &ranks;
//   cairn::Checkpointer checkpointer(options);   // on every rank, same directory
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/coordinator.hpp"

namespace cairn {

class MpiCoordinator final : public Coordinator {
 public:
  // Works on a duplicate of `comm` (a collective call), so cairn's messages never meet the
  // application's. `timeout` bounds every wait of rank 0 for the others: past it, rank 0 throws
  // RankError naming who is missing and tells the others, which then throw too. The others wait
  // for rank 0 at most twice as long. Make it longer than the slowest rank's share of a save or
  // restore.
  explicit MpiCoordinator(MPI_Comm comm = MPI_COMM_WORLD,
                          std::chrono::milliseconds timeout = std::chrono::minutes(10));
  MpiCoordinator(const MpiCoordinator&) = delete;
  MpiCoordinator& operator=(const MpiCoordinator&) = delete;
  // Frees the duplicate communicator, unless a timeout left messages in flight on it.
  ~MpiCoordinator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // Every rank sends its text to rank 0, which sends all of them back; point-to-point messages
  // polled against the deadline (collectives cannot be abandoned).
  std::vector<std::string> all_gather(const std::string& mine, std::string_view what) override;

 private:
  std::vector<std::string> gather_as_root(const std::string& mine, std::string_view what, int tag);
  std::vector<std::string> gather_as_member(const std::string& mine, std::string_view what, int tag);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  std::chrono::milliseconds timeout_;
  uint64_t calls_ = 0;
  bool broken_ = false;
  // Buffers of sends still in flight after a timeout: MPI may read them until it finishes.
  std::vector<std::unique_ptr<std::string>> abandoned_;
};

}  // namespace cairn
