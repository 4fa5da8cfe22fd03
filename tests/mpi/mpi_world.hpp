// Pieces for tests that run under mpirun: this rank, and a directory all ranks share.
#pragma once

#include <mpi.h>

#include <filesystem>
#include <optional>
#include <string>

#include "support/temp_dir.hpp"

namespace cairn::testing {

inline int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

inline int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

// A temporary directory made by rank 0 (and removed by it once every rank is done with it); every
// rank gets its path.
class SharedDir {
 public:
  SharedDir() {
    std::string path;
    if (world_rank() == 0) {
      owner_.emplace();
      path = owner_->path().string();
    }
    int size = static_cast<int>(path.size());
    MPI_Bcast(&size, 1, MPI_INT, 0, MPI_COMM_WORLD);
    path.resize(static_cast<size_t>(size));
    MPI_Bcast(path.data(), size, MPI_CHAR, 0, MPI_COMM_WORLD);
    path_ = path;
  }
  ~SharedDir() { MPI_Barrier(MPI_COMM_WORLD); }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::optional<TempDir> owner_;
  std::filesystem::path path_;
};

}  // namespace cairn::testing
