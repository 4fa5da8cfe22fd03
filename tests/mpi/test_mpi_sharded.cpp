// Sharded checkpoints under Open MPI, run by the test command with 1, 2 and 4 ranks: a save by
// all ranks restores on every smaller number of ranks (sub-communicators) and on one process; a
// rank that fails leaves nothing visible; retention holds after many saves; waits are bounded.
#include <gtest/gtest.h>
#include <mpi.h>

#include <thread>

#include "cairn/cairn.hpp"
#include "cairn/mpi.hpp"
#include "mpi/mpi_world.hpp"
#include "support/forwarding_storage.hpp"
#include "support/sharded_states.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::world_rank;
using testing::world_size;

void save_steps(const fs::path& dir, int64_t first, int64_t last, int keep = 2) {
  MpiCoordinator ranks;
  Checkpointer checkpointer(testing::rank_options(dir, ranks, keep));
  testing::ShardedTrainer trainer;
  trainer.rank = ranks.rank();
  trainer.ranks = ranks.size();
  for (trainer.step = first; trainer.step <= last; ++trainer.step) {
    checkpointer.save_checkpoint(trainer.step, trainer, trainer.step % 2 == 0);
  }
}

TEST(MpiSharded, SavedByAllRanksRestoresOnEveryNumberOfRanks) {
  testing::SharedDir dir;
  save_steps(dir.path(), 0, 1);
  for (int ranks = 1; ranks <= world_size(); ++ranks) {
    MPI_Comm part;
    MPI_Comm_split(MPI_COMM_WORLD, world_rank() < ranks ? 0 : MPI_UNDEFINED, world_rank(), &part);
    if (part != MPI_COMM_NULL) {
      {
        MpiCoordinator coordinator(part);
        Checkpointer checkpointer(testing::rank_options(dir.path(), coordinator));
        testing::expect_restored(
            checkpointer.restore_shards(testing::restore_request(coordinator.rank(), ranks)), 1,
            coordinator.rank(), ranks);
      }
      MPI_Comm_free(&part);
    }
    MPI_Barrier(MPI_COMM_WORLD);
  }
  if (world_rank() == 0) {  // one process, no coordinator: whole tensors
    Checkpointer single(testing::quiet_options(dir.path()));
    const CheckpointState whole = single.restore_checkpoint();
    EXPECT_EQ(whole.model_state, testing::full_state(1).model_state);
    EXPECT_EQ(whole.training_state.at("optimizer"), testing::full_state(1).training_state.at("optimizer"));
    EXPECT_EQ(single.best_model_state(), testing::full_state(0).model_state);
    EXPECT_TRUE(verify_path(dir.path()).ok());
  }
}

// A disk that refuses to create shard files.
class FailingShardFiles final : public testing::ForwardingStorage {
 public:
  std::unique_ptr<WritableFile> create_file(const fs::path& path) override {
    if (path.filename().string().starts_with("shards-")) throw IoError("create", path, EIO);
    return ForwardingStorage::create_file(path);
  }
};

TEST(MpiSharded, ARankThatFailsMidSaveLeavesNothingVisible) {
  testing::SharedDir dir;
  save_steps(dir.path(), 0, 0);
  const int failing = world_size() - 1;
  {
    MpiCoordinator ranks;
    FailingShardFiles failing_storage;
    CheckpointerOptions options = testing::rank_options(dir.path(), ranks);
    if (ranks.rank() == failing) options.storage = &failing_storage;
    Checkpointer checkpointer(options);
    testing::ShardedTrainer trainer;
    trainer.rank = ranks.rank();
    trainer.ranks = ranks.size();
    trainer.step = 1;
    try {
      checkpointer.save_checkpoint(1, trainer);
      ADD_FAILURE() << "rank " << ranks.rank() << " was not told of the failure";
    } catch (const RankError& error) {
      EXPECT_NE(ranks.rank(), failing);
      EXPECT_NE(std::string(error.what()).find("rank " + std::to_string(failing) + ": "),
                std::string::npos)
          << error.what();
    } catch (const IoError& error) {
      EXPECT_EQ(ranks.rank(), failing) << error.what();
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{0}));
  {
    MpiCoordinator ranks;
    Checkpointer checkpointer(testing::rank_options(dir.path(), ranks));
    testing::expect_restored(
        checkpointer.restore_shards(testing::restore_request(ranks.rank(), ranks.size())), 0,
        ranks.rank(), ranks.size());
  }
}

TEST(MpiSharded, RetentionAfterManySavesKeepsWhatThePolicySays) {
  testing::SharedDir dir;
  save_steps(dir.path(), 0, 7, /*keep=*/2);
  MPI_Barrier(MPI_COMM_WORLD);
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{6, 7}));
  if (world_rank() == 0) {
    Checkpointer single(testing::quiet_options(dir.path()));
    EXPECT_EQ(single.best_model_state(), testing::full_state(6).model_state);
    EXPECT_EQ(testing::entry_names(dir.path() / "staging"), std::vector<std::string>{});
  }
}

TEST(MpiSharded, ARankThatDoesNotArriveIsNamedAfterABoundedWait) {
  if (world_size() < 2) GTEST_SKIP() << "needs two ranks";
  const int late = world_size() - 1;
  MpiCoordinator ranks(MPI_COMM_WORLD, std::chrono::milliseconds(500));
  if (ranks.rank() == late) std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto started = std::chrono::steady_clock::now();
  try {
    ranks.all_gather("here", "the test step");
    ADD_FAILURE() << "rank " << ranks.rank() << " did not time out";
  } catch (const RankError& error) {
    // "rank(s) 3 did not reach the test step within 0.5 s" (a starved rank may be named too).
    const std::string message = error.what();
    EXPECT_NE(message.find("did not reach the test step"), std::string::npos) << message;
    EXPECT_NE(message.find(std::to_string(late)), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_THROW(ranks.all_gather("again", "the next step"), RankError);  // out of step for good
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(MpiSharded, GathersInRankOrder) {
  MpiCoordinator ranks;
  for (int round = 0; round < 50; ++round) {
    const auto texts = ranks.all_gather(std::string(static_cast<size_t>(ranks.rank() * 1000 + round), 'a' + static_cast<char>(ranks.rank() % 26)), "a round");
    ASSERT_EQ(texts.size(), static_cast<size_t>(ranks.size()));
    for (int r = 0; r < ranks.size(); ++r) {
      EXPECT_EQ(texts[r], std::string(static_cast<size_t>(r * 1000 + round), 'a' + static_cast<char>(r % 26)));
    }
  }
}

}  // namespace
}  // namespace cairn

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  const int result = RUN_ALL_TESTS();
  int worst = 0;  // the job fails when any rank failed
  MPI_Allreduce(&result, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst;
}
