// Power loss at every step of a save: everything not made durable (file bytes after the last
// fsync, directory entries not fsynced) is thrown away, then the directory must restore the last
// committed checkpoint, keep best/ whole, and take the next save.
#include <gtest/gtest.h>

#include "cairn/cairn.hpp"
#include "support/power_loss_storage.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::PowerLossStorage;
using testing::ToyTrainer;

State training_at(int64_t step, int64_t epoch) {
  State training = ToyTrainer::state_at(step).training_state;
  training["epoch"] = epoch;
  return training;
}

TEST(PowerLoss, AtEveryStepOfASave) {
  testing::TempDir root;
  const fs::path base = root / "template";
  ToyTrainer trainer;
  {
    Checkpointer checkpointer(testing::quiet_options(base));
    trainer.step = 1;
    checkpointer.save_checkpoint(0, trainer, true);
    trainer.step = 2;
    checkpointer.save_checkpoint(1, trainer);
  }
  // The save under test: step 3, best, evicting step 1's checkpoint.
  auto save_step_3 = [&](Checkpointer& checkpointer) {
    trainer.step = 3;
    checkpointer.save_checkpoint(2, trainer, true);
  };
  long steps;
  std::vector<std::string> log;
  {
    const fs::path probe = root / "probe";
    fs::copy(base, probe, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    PowerLossStorage counter;
    Checkpointer checkpointer(testing::quiet_options(probe, 2, &counter));
    save_step_3(checkpointer);
    steps = counter.operations();
    for (const std::string& line : counter.log()) log.push_back(line.substr(0, line.find(' ')) + line.substr(line.find(probe.string()) + probe.string().size()));
  }
  // The new checkpoint is committed once checkpoints/ is fsynced after its rename; best/ once the
  // serialization directory is fsynced after the link's rename.
  long committed_at = -1, best_at = -1;
  for (long i = 0; i < static_cast<long>(log.size()); ++i) {
    if (committed_at < 0 && log[i] == "sync_directory/checkpoints" && i > 0 &&
        log[i - 1].starts_with("rename/checkpoints/")) {
      committed_at = i;
    }
    if (best_at < 0 && log[i] == "sync_directory" && i > 0 && log[i - 1] == "rename/best") {
      best_at = i;
    }
  }
  ASSERT_GT(committed_at, 0);
  ASSERT_GT(best_at, committed_at);

  for (long step = 0; step <= steps; ++step) {
    SCOPED_TRACE("power lost at storage operation " + std::to_string(step) + " (" +
                 (step < steps ? log[static_cast<size_t>(step)] : std::string("after the save")) + ")");
    const fs::path dir = root / ("run" + std::to_string(step));
    fs::copy(base, dir, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    {
      PowerLossStorage storage;
      storage.crash_at(step);
      {
        Checkpointer checkpointer(testing::quiet_options(dir, 2, &storage));
        try {
          save_step_3(checkpointer);
        } catch (const testing::SimulatedCrash&) {
        }
      }
      storage.crash();
    }
    Checkpointer after(testing::quiet_options(dir));
    CheckpointState restored = after.restore_checkpoint();
    if (step > committed_at) {
      EXPECT_EQ(restored.training_state, training_at(3, 2));
    } else {
      EXPECT_EQ(restored.training_state, training_at(2, 1));
    }
    State best = after.best_model_state();
    EXPECT_EQ(best, ToyTrainer::state_at(step > best_at ? 3 : 1).model_state);
    // The next save works, retention holds, leftovers go.
    trainer.step = 4;
    after.save_checkpoint(3, trainer);
    EXPECT_EQ(testing::epochs_on_disk(dir).size(), 2u);
    EXPECT_TRUE(testing::entry_names(dir / "staging").empty());
    EXPECT_TRUE(verify_path(dir).ok());
    fs::remove_all(dir);
  }
  std::printf("power loss: simulated at each of %ld storage operations of a save\n", steps + 1);
}

}  // namespace
}  // namespace cairn
