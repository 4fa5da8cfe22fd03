// cairn-bench-sharded-save: aggregate durable write throughput of one sharded save by all ranks
// of the job against a save of the same bytes by rank 0 alone, in one run, alternating the two
// and reporting medians. Run under mpirun (bench/sharded_save.sh).
//
//   mpirun -np 4 cairn-bench-sharded-save DIR [--mib 2048] [--repeat 5]
//
// The state is one F32 tensor of MIB MiB split by rows over the ranks (plus a replicated
// counter); every buffer is touched before the first repetition. A save is timed from a barrier
// before it to a barrier after it returned on every rank (waiting ranks sleep, they do not
// spin): it includes the commit, so the time is what training stalls. Each save replaces the
// previous one (keep 1).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.hpp"
#include "cairn/mpi.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

constexpr int64_t kColumns = (1 << 20) / 4;  // one MiB of F32 per row

// A tensor of `shape` whose every page has been written.
cairn::Tensor touched(const std::vector<int64_t>& shape) {
  std::vector<std::byte> bytes(static_cast<size_t>(shape[0] * shape[1] * 4));
  for (size_t i = 0; i < bytes.size(); i += 4096) bytes[i] = static_cast<std::byte>(i >> 12);
  return cairn::Tensor(cairn::DType::F32, shape, std::move(bytes));
}

// Rank `rank` of `ranks`' rows of a [rows, kColumns] F32 tensor.
struct RowsTrainer final : cairn::Trainer {
  RowsTrainer(int64_t rows, int rank, int ranks)
      : global_shape{rows, kColumns},
        slice(cairn::even_slice(global_shape, 0, rank, ranks)),
        piece(touched(slice.shape)) {}
  cairn::CheckpointState get_checkpoint_state() override {
    cairn::CheckpointState state{cairn::State::map(), cairn::State::map()};
    state.model_state["weight"] = cairn::Tensor::view(piece.dtype(), piece.shape(),
                                                      piece.data().data(), piece.nbytes());
    state.training_state["step"] = int64_t{1};
    state.shards[{"model_state", "weight"}] = cairn::Shard{global_shape, slice.offsets};
    return state;
  }
  std::vector<int64_t> global_shape;
  cairn::Slice slice;
  cairn::Tensor piece;
};

// A barrier whose waiting ranks sleep: MPI_Barrier spins, and on an oversubscribed machine the
// spinning ranks would take the cores from rank 0 while it saves alone.
void sleeping_barrier() {
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  for (int done = 0;;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}

double timed_save(cairn::Checkpointer* checkpointer, RowsTrainer* trainer, int64_t epoch) {
  sleeping_barrier();
  const auto started = Clock::now();
  if (checkpointer != nullptr) checkpointer->save_checkpoint(epoch, *trainer);
  sleeping_barrier();
  return std::chrono::duration<double>(Clock::now() - started).count();
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  if (argc < 2 || std::string(argv[1]) == "--help") {
    if (rank == 0) std::fprintf(stderr, "usage: mpirun -np N %s DIR [--mib 2048] [--repeat 5]\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  long mib = 2048, repeat = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--mib") mib = std::atol(argv[i + 1]);
    if (std::string(argv[i]) == "--repeat") repeat = std::atol(argv[i + 1]);
  }
  cairn::CheckpointerOptions options;
  options.logger = cairn::null_logger();
  options.num_serialized_models_to_keep = 1;
  int code = 0;
  try {
    // All ranks: one sharded save. Rank 0 alone: the same bytes from one process.
    cairn::MpiCoordinator world;
    options.serialization_dir = dir / "all-ranks";
    options.coordinator = &world;
    RowsTrainer sharded(mib, rank, ranks);
    cairn::Checkpointer all(options);
    std::unique_ptr<RowsTrainer> whole;
    std::unique_ptr<cairn::Checkpointer> alone;
    if (rank == 0) {
      whole = std::make_unique<RowsTrainer>(mib, 0, 1);
      options.serialization_dir = dir / "rank-0-alone";
      options.coordinator = nullptr;
      alone = std::make_unique<cairn::Checkpointer>(options);
    }
    std::vector<double> all_seconds, alone_seconds;
    for (long r = 0; r < repeat; ++r) {
      // Alternate which goes first, so neither always meets the other's dirty page cache.
      const bool all_first = r % 2 == 0;
      for (int turn = 0; turn < 2; ++turn) {
        if ((turn == 0) == all_first) {
          all_seconds.push_back(timed_save(&all, &sharded, r));
        } else {
          alone_seconds.push_back(timed_save(alone.get(), whole.get(), r));
        }
      }
    }
    if (rank == 0) {
      const double gib = static_cast<double>(mib) / 1024.0;
      const double all_rate = gib / median(all_seconds), alone_rate = gib / median(alone_seconds);
      std::printf("sharded save of %.2f GiB, medians of %ld, durable (fsynced, committed):\n", gib, repeat);
      std::printf("  %d ranks     %7.3f s  %6.2f GiB/s aggregate\n", ranks, median(all_seconds), all_rate);
      std::printf("  1 rank      %7.3f s  %6.2f GiB/s\n", median(alone_seconds), alone_rate);
      std::printf("  ratio %d ranks / 1 rank: %.2fx\n", ranks, all_rate / alone_rate);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "rank %d: %s\n", rank, error.what());
    code = 1;
  }
  MPI_Finalize();
  return code;
}
