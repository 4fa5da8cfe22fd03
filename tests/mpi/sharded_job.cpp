// A sharded training job for tests/mpi/kill_rank.sh, run under mpirun:
//   sharded_job DIR save FIRST LAST [DYING_RANK]   saves steps FIRST..LAST; DYING_RANK, if given,
//                                                  is SIGKILLed in the save of LAST once its shard
//                                                  file is written
//   sharded_job DIR expect STEP                    every rank restores its slices; they must be
//                                                  those of STEP, and STEP the newest on disk
// Exits 0 when all is as expected, 1 otherwise (saying why on stderr).
#include <mpi.h>
#include <signal.h>

#include <cstdio>
#include <string>

#include "cairn/cairn.hpp"
#include "cairn/mpi.hpp"
#include "support/forwarding_storage.hpp"
#include "support/sharded_states.hpp"
#include "support/trainers.hpp"

namespace {

namespace fs = std::filesystem;

// Kills its process when a shard file is closed: the rank dies mid-save, its piece written.
class DyingStorage final : public cairn::testing::ForwardingStorage {
 public:
  bool armed = false;
  std::unique_ptr<cairn::WritableFile> create_file(const fs::path& path) override {
    auto file = ForwardingStorage::create_file(path);
    if (!armed || !path.filename().string().starts_with("shards-")) return file;
    struct Dying final : cairn::WritableFile {
      std::unique_ptr<cairn::WritableFile> inner;
      void append(std::span<const std::span<const std::byte>> buffers) override { inner->append(buffers); }
      void sync() override { inner->sync(); }
      void close() override {
        inner->close();
        ::raise(SIGKILL);
      }
    };
    auto dying = std::make_unique<Dying>();
    dying->inner = std::move(file);
    return dying;
  }
};

int run(const fs::path& dir, const std::string& mode, int64_t first, int64_t last, int dying_rank) {
  cairn::MpiCoordinator ranks(MPI_COMM_WORLD, std::chrono::seconds(60));
  DyingStorage storage;
  cairn::CheckpointerOptions options = cairn::testing::quiet_options(dir, 2, &storage);
  options.coordinator = &ranks;
  cairn::Checkpointer checkpointer(options);
  if (mode == "save") {
    cairn::testing::ShardedTrainer trainer;
    trainer.rank = ranks.rank();
    trainer.ranks = ranks.size();
    for (trainer.step = first; trainer.step <= last; ++trainer.step) {
      storage.armed = trainer.step == last && ranks.rank() == dying_rank;
      checkpointer.save_checkpoint(trainer.step, trainer);
    }
    return 0;
  }
  const auto restored =
      checkpointer.restore_shards(cairn::testing::restore_request(ranks.rank(), ranks.size()));
  if (restored.training_state.is_null()) {
    std::fprintf(stderr, "rank %d: nothing restored\n", ranks.rank());
    return 1;
  }
  const int64_t step = restored.training_state.at("global_step").as_int();
  const auto on_disk = cairn::testing::epochs_on_disk(dir);
  if (step != first || on_disk.empty() || on_disk.back() != first) {
    std::fprintf(stderr, "rank %d: restored step %lld, newest on disk %lld, expected %lld\n",
                 ranks.rank(), static_cast<long long>(step),
                 static_cast<long long>(on_disk.empty() ? -1 : on_disk.back()),
                 static_cast<long long>(first));
    return 1;
  }
  const auto request = cairn::testing::restore_request(ranks.rank(), ranks.size());
  for (const auto& global : cairn::testing::global_tensors(step)) {
    const cairn::State* node = global.path[0] == "model_state" ? &restored.model_state
                                                                 : &restored.training_state;
    for (size_t i = 1; i < global.path.size(); ++i) node = &node->at(global.path[i]);
    if (!(node->as_tensor() == cairn::testing::cut(global.full, request.at(global.path)))) {
      std::fprintf(stderr, "rank %d: %s differs\n", ranks.rank(),
                   cairn::format_path(global.path).c_str());
      return 1;
    }
  }
  std::printf("rank %d of %d restored step %lld\n", ranks.rank(), ranks.size(),
              static_cast<long long>(step));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int result = 1;
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s DIR save FIRST LAST [DYING_RANK] | DIR expect STEP\n", argv[0]);
  } else {
    try {
      const int64_t first = std::stoll(argv[3]);
      result = run(argv[1], argv[2], first, argc > 4 ? std::stoll(argv[4]) : first,
                   argc > 5 ? std::stoi(argv[5]) : -1);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "sharded_job: %s\n", error.what());
    }
  }
  int worst = 0;
  MPI_Allreduce(&result, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
