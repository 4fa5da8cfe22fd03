// Crash torture: a child process saves checkpoints of a few KB to tens of MB in a loop; the parent
// kills it with SIGKILL at random instants, 200 times, and after each kill checks the directory:
// restore succeeds and returns exactly the newest state the child reported saved (or the one
// whose save was under way), nothing partial is listed, retention held.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "cairn/cairn.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;

constexpr int kKeep = 2;

// The payload of `step`: 4 KB, 400 KB, 4 MB or 24 MB, with bytes that depend on the step.
Tensor payload(int64_t step) {
  static constexpr int64_t kSizes[] = {4'000, 400'000, 4'000'000, 24'000'000};
  const int64_t size = kSizes[step % 4];
  std::vector<std::byte> bytes(static_cast<size_t>(size));
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<std::byte>((i * 131 + static_cast<size_t>(step) * 7) & 0xff);
  }
  return Tensor(DType::U8, {size}, std::move(bytes));
}

struct TortureTrainer : Trainer {
  int64_t step = 0;
  CheckpointState get_checkpoint_state() override {
    CheckpointState state = testing::ToyTrainer::state_at(step);
    state.model_state["payload"] = payload(step);
    return state;
  }
};

// Never returns into the test runner: a child that fails exits with status 1.
[[noreturn]] void child_saves_forever(const fs::path& dir, int64_t first_step, int report_fd) {
  try {
    Checkpointer checkpointer(testing::quiet_options(dir, kKeep));
    TortureTrainer trainer;
    for (trainer.step = first_step;; ++trainer.step) {
      checkpointer.save_checkpoint(trainer.step, trainer, trainer.step % 5 == 0);
      if (::write(report_fd, &trainer.step, sizeof(trainer.step)) != sizeof(trainer.step)) break;
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "torture child: %s\n", error.what());
  }
  ::_exit(1);
}

TEST(CrashTorture, TwoHundredKills) {
  testing::TempDir dir;
  std::mt19937 random(20261128);
  int64_t next_step = 0;
  int kills = 0, restores = 0, mid_save = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int round = 0; round < 200; ++round) {
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(report[0]);
      child_saves_forever(dir.path(), next_step, report[1]);
    }
    ::close(report[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(random() % 250'000));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child died on its own, status " << status;
    ++kills;
    int64_t reported = next_step - 1, value;
    while (::read(report[0], &value, sizeof(value)) == sizeof(value)) reported = value;
    ::close(report[0]);

    Checkpointer reader(testing::quiet_options(dir.path(), kKeep));
    CheckpointState restored = reader.restore_checkpoint();
    if (restored.training_state.is_null()) {
      ASSERT_LT(reported, 0) << "round " << round << ": nothing restored after a reported save";
      continue;
    }
    ++restores;
    const int64_t step = restored.training_state.at("global_step").as_int();
    ASSERT_TRUE(step == reported || step == reported + 1)
        << "round " << round << ": restored step " << step << ", last reported " << reported;
    mid_save += step == reported + 1 ? 1 : 0;
    TortureTrainer at_step;
    at_step.step = step;
    CheckpointState expected = at_step.get_checkpoint_state();
    expected.training_state["epoch"] = step;
    ASSERT_EQ(restored.model_state, expected.model_state) << "round " << round;
    ASSERT_EQ(restored.training_state, expected.training_state) << "round " << round;
    // Nothing partial is visible: every folder restore would consider verifies, and at most
    // N + 1 are there (one more while its retention had not run yet).
    const auto epochs = testing::epochs_on_disk(dir.path());
    ASSERT_LE(epochs.size(), static_cast<size_t>(kKeep + 1)) << "round " << round;
    ASSERT_TRUE(verify_path(dir / "checkpoints").ok()) << "round " << round;
    next_step = step + 1;
  }
  // The next writer settles everything: retention holds and no staging leftovers remain.
  {
    Checkpointer writer(testing::quiet_options(dir.path(), kKeep));
    TortureTrainer trainer;
    trainer.step = next_step;
    writer.save_checkpoint(next_step, trainer);
  }
  EXPECT_EQ(testing::epochs_on_disk(dir.path()).size(), static_cast<size_t>(kKeep));
  EXPECT_TRUE(testing::entry_names(dir / "staging").empty());
  EXPECT_TRUE(verify_path(dir.path()).ok());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("crash torture: %d kills survived, %d restores checked (%d saw a save finish "
              "after its last report), %lld saves, %.1f s\n",
              kills, restores, mid_save, static_cast<long long>(next_step), seconds);
  EXPECT_GE(restores, 150);
}

}  // namespace
}  // namespace cairn
