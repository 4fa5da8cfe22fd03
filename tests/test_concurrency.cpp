// Concurrency: two processes racing to write one directory; readers (restore, listing, verify)
// running while a writer saves and prunes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cairn/cairn.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::ToyTrainer;

TEST(Concurrency, TwoWritersRaceOneWins) {
  for (int round = 0; round < 5; ++round) {
    testing::TempDir dir;
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    pid_t children[2];
    for (int i = 0; i < 2; ++i) {
      children[i] = ::fork();
      if (children[i] == 0) {
        ::close(go[1]);
        char byte;
        (void)!::read(go[0], &byte, 1);  // both start together
        try {
          Checkpointer checkpointer(testing::quiet_options(dir.path()));
          ToyTrainer trainer;
          trainer.step = 100 + i;
          checkpointer.save_checkpoint(0, trainer);
          std::this_thread::sleep_for(std::chrono::milliseconds(300));  // keeps the lock
          ::_exit(0);
        } catch (const LockedError&) {
          ::_exit(3);
        } catch (...) {
          ::_exit(4);
        }
      }
    }
    ::close(go[0]);
    ::close(go[1]);  // release both
    int codes[2];
    for (int i = 0; i < 2; ++i) {
      int status;
      ::waitpid(children[i], &status, 0);
      codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    ASSERT_TRUE((codes[0] == 0 && codes[1] == 3) || (codes[0] == 3 && codes[1] == 0))
        << codes[0] << " " << codes[1];
    const int winner = codes[0] == 0 ? 0 : 1;
    CheckpointState restored = Checkpointer(testing::quiet_options(dir.path())).restore_checkpoint();
    EXPECT_EQ(restored.model_state, ToyTrainer::state_at(100 + winner).model_state);
    EXPECT_EQ(testing::epochs_on_disk(dir.path()).size(), 1u);
  }
}

TEST(Concurrency, ReadersNeverSeeAPartialCheckpoint) {
  testing::TempDir dir;
  const pid_t writer = ::fork();
  if (writer == 0) {
    try {
      Checkpointer checkpointer(testing::quiet_options(dir.path()));
      ToyTrainer trainer;
      for (trainer.step = 0;; ++trainer.step) {
        checkpointer.save_checkpoint(trainer.step, trainer, trainer.step % 7 == 0);
      }
    } catch (const std::exception& error) {
      std::fprintf(stderr, "writer child: %s\n", error.what());
    }
    ::_exit(1);
  }
  // Stops the writer before the directory is removed, however this test ends.
  struct KillOnExit {
    pid_t pid;
    ~KillOnExit() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } stop_writer{writer};
  int restores = 0, listings = 0, verifies = 0, empty = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    Checkpointer reader(testing::quiet_options(dir.path()));
    CheckpointState restored = reader.restore_checkpoint();
    if (restored.model_state.is_null()) {
      ASSERT_EQ(restores, 0) << "restore found nothing after it had found a checkpoint";
      ++empty;
    } else {
      const int64_t step = restored.training_state.at("global_step").as_int();
      ASSERT_EQ(restored.model_state, ToyTrainer::state_at(step).model_state);
      ASSERT_EQ(restored.training_state.at("epoch").as_int(), step);
      ++restores;
    }
    if (fs::exists(dir / "retention.json")) {
      DirectoryListing listing = list_directory(dir.path());
      for (const auto& info : listing.checkpoints) ASSERT_GT(info.size_bytes, 0u);
      ++listings;
      VerifyReport report = verify_path(dir.path());
      ASSERT_TRUE(report.ok()) << report.problems.front().file << ": "
                               << report.problems.front().what;
      ++verifies;
    }
    State best = reader.best_model_state();
    if (!best.is_null()) {
      ASSERT_TRUE(best.contains("fc1.weight"));
    }
  }
  EXPECT_GT(restores, 20);
  EXPECT_GT(verifies, 5);
  std::printf("concurrency: %d restores, %d listings, %d verifies beside a saving writer "
              "(%d found nothing yet)\n", restores, listings, verifies, empty);
}

}  // namespace
}  // namespace cairn
