// Fix 1 and 9 of the original: a crash or an I/O error at any step of a save leaves the earlier
// checkpoints, best/ and the retention state intact, and a second writer process is refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "cairn/cairn.hpp"
#include "support/faulty_storage.hpp"
#include "support/forwarding_storage.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::FakeClock;
using testing::FaultyStorage;
using testing::LogRecorder;
using testing::TempDir;
using testing::ToyTrainer;

class SaveFaults : public ::testing::TestWithParam<int> {
 protected:
  CheckpointerOptions options(const fs::path& dir, Storage* storage = nullptr) {
    auto result = testing::test_options(dir, clock_, log_);
    result.num_serialized_models_to_keep = 2;
    result.storage = storage;
    return result;
  }
  // A directory with checkpoints of steps 1 and 2, the best being step 1.
  void make_template(const fs::path& dir) {
    Checkpointer checkpointer(options(dir));
    trainer_.step = 1;
    checkpointer.save_checkpoint(0, trainer_, true);
    trainer_.step = 2;
    checkpointer.save_checkpoint(1, trainer_);
  }
  // The save under test: step 3, marked best, which also evicts the step-1 checkpoint.
  void save_step_3(Checkpointer& checkpointer) {
    trainer_.step = 3;
    checkpointer.save_checkpoint(2, trainer_, true);
  }

  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  LogRecorder log_;
  ToyTrainer trainer_;
};

TEST_P(SaveFaults, EveryStepOfASave) {
  const int error_code = GetParam();
  TempDir root;
  make_template(root / "template");
  long steps;
  {
    fs::copy(root / "template", root / "probe", fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    FaultyStorage counter;
    Checkpointer checkpointer(options(root / "probe", &counter));
    save_step_3(checkpointer);
    steps = counter.operations();
  }
  ASSERT_GT(steps, 20);
  int failed_saves = 0;
  for (long step = 0; step < steps; ++step) {
    SCOPED_TRACE("fault at storage operation " + std::to_string(step));
    const fs::path dir = root / ("run" + std::to_string(step));
    bool raised = false;
    fs::copy(root / "template", dir, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    {
      FaultyStorage faulty;
      faulty.fail_at(step, error_code);
      Checkpointer checkpointer(options(dir, &faulty));
      log_.lines->clear();
      try {
        save_step_3(checkpointer);
      } catch (const IoError& error) {
        ++failed_saves;
        raised = true;
        EXPECT_EQ(error.error_code(), error_code);
      }
    }  // the writer goes away, as after a crash
    // A save that returned is committed; the only warning it may give is that best/ could not
    // follow (a fault after the publish), and then the next save makes best/ again.
    const auto warnings = log_.matching("warning");
    const bool best_deferred =
        !raised && !log_.matching("is committed and restorable, but best/ was not updated").empty();
    EXPECT_EQ(warnings.size(), best_deferred ? 1u : 0u) << (warnings.empty() ? "" : warnings.front());
    log_.lines->clear();

    // A new process opens the directory: the newest checkpoint is step 3 (if the save got as far
    // as publishing) or step 2, whole either way; best is step 3's or step 1's model.
    Checkpointer reader(options(dir));
    CheckpointState restored = reader.restore_checkpoint();
    const int64_t step_restored = restored.training_state.at("global_step").as_int();
    EXPECT_TRUE(step_restored == 2 || step_restored == 3);
    EXPECT_EQ(restored.model_state, ToyTrainer::state_at(step_restored).model_state);
    State best = reader.best_model_state();
    EXPECT_TRUE(best == ToyTrainer::state_at(1).model_state ||
                best == ToyTrainer::state_at(3).model_state);
    if (!raised) {
      EXPECT_EQ(step_restored, 3);
    }
    EXPECT_TRUE(log_.matching("warning").empty()) << log_.matching("warning").front();

    // The next save works and retention holds: exactly two checkpoints, no leftovers, and best/
    // is step 3's model whenever step 3's save returned.
    trainer_.step = 4;
    reader.save_checkpoint(3, trainer_);
    if (!raised) {
      EXPECT_EQ(reader.best_model_state(), ToyTrainer::state_at(3).model_state);
    }
    EXPECT_EQ(testing::epochs_on_disk(dir).size(), 2u);
    EXPECT_EQ(testing::epochs_on_disk(dir).back(), 3);
    EXPECT_TRUE(testing::entry_names(dir / "staging").empty());
    EXPECT_EQ(testing::entry_names(dir / "best-versions").size(), 1u);
    fs::remove_all(dir);
  }
  EXPECT_GT(failed_saves, 10);
  std::printf("save faults (errno %d): injected at each of %ld storage operations, %d saves "
              "raised it, every earlier checkpoint and best intact\n",
              error_code, steps, failed_saves);
}

INSTANTIATE_TEST_SUITE_P(Errno, SaveFaults, ::testing::Values(EIO, ENOSPC, EACCES),
                         [](const auto& param_info) {
                           return param_info.param == EIO      ? std::string("EIO")
                                  : param_info.param == ENOSPC ? std::string("ENOSPC")
                                                               : std::string("EACCES");
                         });

// A deletion that fails raises from that save, and the same writer's next save retries it.
TEST(RetentionFaults, AFailedDeletionIsRetriedByTheNextSave) {
  TempDir dir;
  FaultyStorage faulty;
  auto options = testing::quiet_options(dir.path(), 1, &faulty);
  Checkpointer checkpointer(options);
  ToyTrainer trainer;
  checkpointer.save_checkpoint(0, trainer);
  // The second save retires the first checkpoint: its first step is a rename into staging/.
  const long start = faulty.operations();
  {
    TempDir probe_dir;
    FaultyStorage probe;
    Checkpointer probe_checkpointer(testing::quiet_options(probe_dir.path(), 1, &probe));
    probe_checkpointer.save_checkpoint(0, trainer);
    const long before = probe.operations();
    probe_checkpointer.save_checkpoint(1, trainer);
    long offset = -1;
    for (long i = before; i < probe.operations(); ++i) {
      if (probe.log()[static_cast<size_t>(i)].starts_with("rename") &&
          probe.log()[static_cast<size_t>(i)].find("discarded-") != std::string::npos) {
        offset = i - before;
      }
    }
    ASSERT_GE(offset, 0);
    faulty.fail_at(offset, EIO);
  }
  EXPECT_THROW(checkpointer.save_checkpoint(1, trainer), IoError);
  EXPECT_GT(faulty.operations(), start);
  EXPECT_EQ(testing::epochs_on_disk(dir.path()).size(), 2u);  // the deletion did not happen
  checkpointer.save_checkpoint(2, trainer);  // the fault is gone
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{2}));
  EXPECT_TRUE(verify_path(dir.path()).ok());
}

TEST(BestCopy, FallsBackToACopyWhereHardLinksFail) {
  TempDir dir;
  FaultyStorage no_links;
  no_links.refuse_hard_links(true);
  CheckpointerOptions options;
  options.serialization_dir = dir.path();
  options.storage = &no_links;
  options.logger = null_logger();
  options.num_serialized_models_to_keep = 0;
  Checkpointer checkpointer(options);
  ToyTrainer trainer;
  trainer.step = 5;
  checkpointer.save_checkpoint(0, trainer, true);
  EXPECT_EQ(checkpointer.best_model_state(), ToyTrainer::state_at(5).model_state);
}

// Fix 1 under real SIGKILLs: a child saves in a loop and reports each save that returned; the
// parent kills it at a random instant, then restores.
TEST(KillDuringSaves, RestoreGivesALastSavedStateWhole) {
  TempDir dir;
  std::mt19937 random(1234);
  int64_t next_step = 0;
  for (int round = 0; round < 25; ++round) {
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    pid_t child = ::fork();
    if (child == 0) try {
      ::close(report[0]);
      CheckpointerOptions options;
      options.serialization_dir = dir.path();
      options.logger = null_logger();
      options.num_serialized_models_to_keep = 2;
      Checkpointer checkpointer(options);
      struct Big : Trainer {
        int64_t step = 0;
        CheckpointState get_checkpoint_state() override {
          CheckpointState state = ToyTrainer::state_at(step);
          state.model_state["big"] = testing::patterned_tensor(DType::F32, {1 << 18},
                                                               static_cast<uint32_t>(step));
          return state;
        }
      } trainer;
      for (trainer.step = next_step;; ++trainer.step) {
        checkpointer.save_checkpoint(trainer.step, trainer, trainer.step % 3 == 0);
        (void)!::write(report[1], &trainer.step, sizeof(trainer.step));
      }
    } catch (...) {
      ::_exit(1);  // never back into the test runner
    }
    ::close(report[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(random() % 60000));
    ::kill(child, SIGKILL);
    int status;
    ::waitpid(child, &status, 0);
    int64_t reported = next_step - 1, value;
    while (::read(report[0], &value, sizeof(value)) == sizeof(value)) reported = value;
    ::close(report[0]);

    CheckpointerOptions options;
    options.serialization_dir = dir.path();
    options.logger = null_logger();
    Checkpointer reader(options);
    CheckpointState restored = reader.restore_checkpoint();
    if (reported < 0 && restored.training_state.is_null()) continue;  // killed before any save
    ASSERT_FALSE(restored.training_state.is_null()) << "round " << round;
    const int64_t step = restored.training_state.at("global_step").as_int();
    // The last save reported, or the one under way when the kill came.
    EXPECT_TRUE(step == reported || step == reported + 1) << step << " vs " << reported;
    EXPECT_EQ(restored.model_state.at("fc1.weight"),
              ToyTrainer::state_at(step).model_state.at("fc1.weight"));
    next_step = step + 1;
  }
  // Retention held across all those crashes once the next writer settles the directory.
  CheckpointerOptions options;
  options.serialization_dir = dir.path();
  options.logger = null_logger();
  options.num_serialized_models_to_keep = 2;
  Checkpointer writer(options);
  ToyTrainer trainer;
  trainer.step = next_step;
  writer.save_checkpoint(next_step, trainer);
  EXPECT_EQ(testing::epochs_on_disk(dir.path()).size(), 2u);
  EXPECT_TRUE(testing::entry_names(dir / "staging").empty());
}

// A Storage that kills its process right after a checkpoint folder is renamed into checkpoints/:
// the save is published, its retention has not run.
class KilledAfterPublish final : public testing::ForwardingStorage {
 public:
  void rename(const fs::path& from, const fs::path& to) override {
    ForwardingStorage::rename(from, to);
    if (to.parent_path().filename() == "checkpoints") ::raise(SIGKILL);
  }
};

// Found by the crash torture: each save killed between its publish and its retention left one
// more folder, as the next writer adopted the published one without applying retention.
TEST(KillAfterPublish, TheNextWriterAppliesRetentionBeforeItsOwnSave) {
  TempDir dir;
  const CheckpointerOptions options = testing::quiet_options(dir.path(), 2);
  {
    Checkpointer writer(options);
    ToyTrainer trainer;
    for (trainer.step = 0; trainer.step < 2; ++trainer.step) {
      writer.save_checkpoint(trainer.step, trainer);
    }
  }
  for (int64_t epoch = 2; epoch < 5; ++epoch) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) try {
      KilledAfterPublish killing;
      CheckpointerOptions child_options = options;
      child_options.storage = &killing;
      Checkpointer writer(child_options);
      ToyTrainer trainer;
      trainer.step = epoch;
      writer.save_checkpoint(epoch, trainer);
      ::_exit(2);  // the save returned: the storage did not kill us
    } catch (...) {
      ::_exit(1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    // The last 2 plus the one published whose retention never ran.
    EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{epoch - 2, epoch - 1, epoch}));
  }
  Checkpointer reader(options);
  EXPECT_EQ(reader.restore_checkpoint().training_state.at("epoch").as_int(), 4);
}

TEST(DirectoryLockAcrossProcesses, SecondWriterIsToldWhoHoldsIt) {
  TempDir dir;
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  pid_t child = ::fork();
  if (child == 0) {
    try {
      CheckpointerOptions options;
      options.serialization_dir = dir.path();
      options.logger = null_logger();
      Checkpointer checkpointer(options);
      ToyTrainer trainer;
      checkpointer.save_checkpoint(0, trainer);
      char byte = 1;
      (void)!::write(ready[1], &byte, 1);
      (void)!::read(release[0], &byte, 1);
    } catch (...) {
      ::_exit(1);  // never back into the test runner
    }
    ::_exit(0);
  }
  char byte;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  CheckpointerOptions options;
  options.serialization_dir = dir.path();
  options.logger = null_logger();
  ToyTrainer trainer;
  {
    Checkpointer second(options);
    EXPECT_EQ(second.restore_checkpoint().training_state.at("epoch").as_int(), 0);  // reading is fine
    try {
      second.save_checkpoint(1, trainer);
      FAIL() << "second writer was let in";
    } catch (const LockedError& error) {
      EXPECT_EQ(error.holder_pid(), child);
      EXPECT_NE(std::string(error.what()).find("locked by pid " + std::to_string(child)),
                std::string::npos);
    }
  }
  ::kill(child, SIGKILL);  // dies holding the lock
  int status;
  ::waitpid(child, &status, 0);
  Checkpointer third(options);
  EXPECT_NO_THROW(third.save_checkpoint(1, trainer));  // a dead holder's lock is taken over
}

}  // namespace
}  // namespace cairn
