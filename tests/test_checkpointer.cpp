// The Checkpointer's contract (docs/design.md sections 3 and 4) through its public API, on real
// directories.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "cairn/cairn.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

using testing::FakeClock;
using testing::LogRecorder;
using testing::TempDir;
using testing::ToyTrainer;

class CheckpointerTest : public ::testing::Test {
 protected:
  CheckpointerOptions options(std::optional<int> keep = 2) {
    auto result = testing::test_options(dir_.path(), clock_, log_);
    result.num_serialized_models_to_keep = keep;
    return result;
  }
  // Training state as the checkpointer saves it for `step` at `epoch` (and batch).
  static State expected_training(int64_t step, int64_t epoch,
                                 std::optional<int64_t> batches = std::nullopt) {
    State training = ToyTrainer::state_at(step).training_state;
    training["epoch"] = epoch;
    if (batches) training["batches_this_epoch"] = *batches;
    return training;
  }

  TempDir dir_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  LogRecorder log_;
  ToyTrainer trainer_;
};

TEST_F(CheckpointerTest, SaveThenRestore) {
  Checkpointer checkpointer(options());
  trainer_.step = 7;
  checkpointer.save_checkpoint(0, trainer_);
  CheckpointState restored = checkpointer.restore_checkpoint();
  EXPECT_EQ(restored.model_state, ToyTrainer::state_at(7).model_state);
  EXPECT_EQ(restored.training_state, expected_training(7, 0));
  EXPECT_EQ(restored.training_state.at("epoch").as_int(), 0);
  EXPECT_FALSE(restored.training_state.contains("batches_this_epoch"));
  auto latest = checkpointer.find_latest_checkpoint();
  ASSERT_TRUE(latest.has_value());
  EXPECT_TRUE(std::filesystem::exists(latest->model));
  EXPECT_TRUE(std::filesystem::exists(latest->training_state));
  EXPECT_EQ(latest->model.parent_path(), latest->dir);
  EXPECT_EQ(load_file(latest->model), ToyTrainer::state_at(7).model_state);
}

// The README binds the two states by name; a third member (shards) must not break that code.
TEST_F(CheckpointerTest, RestoreBindsModelAndTrainingByName) {
  Checkpointer checkpointer(options());
  trainer_.step = 3;
  checkpointer.save_checkpoint(0, trainer_);
  auto [model, training] = checkpointer.restore_checkpoint();
  EXPECT_EQ(model, ToyTrainer::state_at(3).model_state);
  EXPECT_EQ(training, expected_training(3, 0));
  const CheckpointState kept = checkpointer.restore_checkpoint();
  const auto& [kept_model, kept_training] = kept;
  EXPECT_EQ(&kept_model, &kept.model_state);
  EXPECT_EQ(&kept_training, &kept.training_state);
  static_assert(std::tuple_size_v<CheckpointState> == 2);
}

TEST_F(CheckpointerTest, NothingSavedMeansEmptyNotAnError) {
  auto missing = options();
  missing.serialization_dir = dir_ / "does" / "not" / "exist";
  Checkpointer checkpointer(missing);
  EXPECT_FALSE(checkpointer.find_latest_checkpoint().has_value());
  CheckpointState restored = checkpointer.restore_checkpoint();
  EXPECT_TRUE(restored.model_state.is_null());
  EXPECT_TRUE(restored.training_state.is_null());
  EXPECT_TRUE(checkpointer.best_model_state().is_null());
  EXPECT_TRUE(checkpointer.list_checkpoints().empty());
  EXPECT_FALSE(std::filesystem::exists(missing.serialization_dir));  // readers create nothing
}

TEST_F(CheckpointerTest, TimedSavesFollowTheInterval) {
  auto opts = options(-1);
  opts.model_save_interval = 100;
  Checkpointer checkpointer(opts);
  clock_->advance(99);
  EXPECT_FALSE(checkpointer.maybe_save_checkpoint(trainer_, 0, 10));
  EXPECT_EQ(trainer_.calls, 0);  // the state is only asked for when a save happens
  clock_->advance(1);
  trainer_.step = 11;
  EXPECT_TRUE(checkpointer.maybe_save_checkpoint(trainer_, 0, 11));
  EXPECT_EQ(checkpointer.restore_checkpoint().training_state, expected_training(11, 0, 11));
  clock_->advance(50);
  checkpointer.save_checkpoint(0, trainer_);  // an end-of-epoch save does not reset the timer
  clock_->advance(50);
  EXPECT_TRUE(checkpointer.maybe_save_checkpoint(trainer_, 1, 3));
  EXPECT_FALSE(checkpointer.maybe_save_checkpoint(trainer_, 1, 4));
  EXPECT_EQ(checkpointer.list_checkpoints().size(), 3u);
}

TEST_F(CheckpointerTest, NoIntervalMeansNoTimedSaves) {
  Checkpointer checkpointer(options());
  clock_->advance(1e9);
  EXPECT_FALSE(checkpointer.maybe_save_checkpoint(trainer_, 0, 1));
  EXPECT_TRUE(testing::epochs_on_disk(dir_.path()).empty());
}

TEST_F(CheckpointerTest, TimedSavesWithTheRealClock) {
  auto opts = options(-1);
  opts.clock = nullptr;  // the system clock
  opts.model_save_interval = 0.05;
  Checkpointer checkpointer(opts);
  int saves = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int batch = 0; batch < 30; ++batch) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    saves += checkpointer.maybe_save_checkpoint(trainer_, 0, batch) ? 1 : 0;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(saves, 1);
  // At most one per 50 ms of the time the loop took (300 ms and more: saves on a busy disk
  // take time too).
  EXPECT_LE(saves, static_cast<int>(elapsed / 0.05)) << elapsed << " s";
  auto infos = checkpointer.list_checkpoints();
  ASSERT_EQ(static_cast<int>(infos.size()), saves);
  for (size_t i = 1; i < infos.size(); ++i) {
    EXPECT_GE(infos[i].save_time - infos[i - 1].save_time, 0.05);
  }
}

// Fault 4 of the original: an intra-epoch save of epoch E beat the end-of-epoch save of E.
TEST_F(CheckpointerTest, LatestIsTheLastSavedBySequence) {
  auto opts = options(-1);
  opts.model_save_interval = 1;
  Checkpointer checkpointer(opts);
  clock_->advance(5);
  trainer_.step = 1;
  ASSERT_TRUE(checkpointer.maybe_save_checkpoint(trainer_, 3, 900));
  trainer_.step = 2;
  checkpointer.save_checkpoint(3, trainer_);
  State training = checkpointer.restore_checkpoint().training_state;
  EXPECT_EQ(training, expected_training(2, 3));  // the end-of-epoch save, without a batch count
  EXPECT_EQ(checkpointer.find_latest_checkpoint()->dir.filename().string().find("-end"),
            checkpointer.find_latest_checkpoint()->dir.filename().string().size() - 4);
}

// Fault 8 of the original: saving the same epoch again overwrote the checkpoint in place.
TEST_F(CheckpointerTest, SavingAnEpochAgainMakesANewerCheckpoint) {
  Checkpointer checkpointer(options(-1));
  trainer_.step = 1;
  checkpointer.save_checkpoint(4, trainer_);
  auto first = checkpointer.find_latest_checkpoint()->model;
  auto first_bytes = testing::read_bytes(first);
  trainer_.step = 2;
  checkpointer.save_checkpoint(4, trainer_);
  EXPECT_EQ(testing::read_bytes(first), first_bytes);  // untouched
  EXPECT_NE(checkpointer.find_latest_checkpoint()->model, first);
  EXPECT_EQ(checkpointer.restore_checkpoint().model_state, ToyTrainer::state_at(2).model_state);
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()), (std::vector<int64_t>{4, 4}));
}

TEST_F(CheckpointerTest, KeepsTheLastTwoByDefault) {
  Checkpointer checkpointer(options());
  for (int epoch = 0; epoch < 6; ++epoch) checkpointer.save_checkpoint(epoch, trainer_);
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(log_.matching("deleted: outside the last 2").size(), 4u);
}

TEST_F(CheckpointerTest, NoneOrNegativeKeepsAll) {
  for (std::optional<int> keep : {std::optional<int>(), std::optional<int>(-1)}) {
    TempDir dir;
    auto opts = options(keep);
    opts.serialization_dir = dir.path();
    Checkpointer checkpointer(opts);
    for (int epoch = 0; epoch < 5; ++epoch) checkpointer.save_checkpoint(epoch, trainer_);
    EXPECT_EQ(testing::epochs_on_disk(dir.path()).size(), 5u);
  }
}

// Fault 2 of the original: retention forgot its queue on restart and never deleted older files.
TEST_F(CheckpointerTest, RetentionContinuesAcrossRestarts) {
  for (int run = 0; run < 4; ++run) {
    Checkpointer checkpointer(options(2));
    for (int i = 0; i < 3; ++i) {
      trainer_.step = run * 3 + i;
      checkpointer.save_checkpoint(run * 3 + i, trainer_);
    }
    EXPECT_EQ(testing::epochs_on_disk(dir_.path()).size(), 2u) << "run " << run;
  }
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()), (std::vector<int64_t>{10, 11}));
}

TEST_F(CheckpointerTest, KeepEveryReferenceTimeStartsAtTheFirstConstructionAndPersists) {
  auto opts = options(1);
  opts.keep_serialized_model_every_num_seconds = 100;
  {
    Checkpointer first(opts);  // the reference time is now: t0
    clock_->advance(60);
    first.save_checkpoint(0, trainer_);
  }
  clock_->advance(60);
  {
    Checkpointer second(opts);  // a restart must not move the reference time to t0 + 120
    clock_->advance(1);
    second.save_checkpoint(1, trainer_);  // evicts epoch 0: saved 60 s after t0, not kept
    clock_->advance(1);
    second.save_checkpoint(2, trainer_);  // evicts epoch 1: saved 121 s after t0, kept
  }
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()), (std::vector<int64_t>{1, 2}));
  Checkpointer third(opts);
  auto infos = third.list_checkpoints();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_TRUE(infos[0].permanent);
  EXPECT_FALSE(infos[1].permanent);
  EXPECT_EQ(log_.matching("kept: for good, one every 100 s (121 s after the previous one)").size(), 1u);
}

// Fault 3 of the original: only checkpoints this directory's ledger records are ever deleted.
TEST_F(CheckpointerTest, OnlyItsOwnCheckpointsAreEverDeleted) {
  std::filesystem::create_directories(dir_ / "checkpoints" / "my-notes");
  std::filesystem::create_directories(dir_ / "checkpoints" / "ckpt-0000000000-epoch0-end");
  testing::write_bytes(dir_ / "checkpoints" / "ckpt-0000000000-epoch0-end" / "model.safetensors",
                       std::vector<std::byte>(10));  // looks like ours, is not in the ledger
  testing::write_bytes(dir_ / "checkpoints" / "ckpt-0000000001-epoch0-end",
                       std::vector<std::byte>(3));  // a file with our naming
  testing::write_bytes(dir_ / "config.json", {std::byte{'{'}, std::byte{'}'}});
  testing::write_bytes(dir_ / "model_state_epoch_best.th", std::vector<std::byte>(5));
  {
    Checkpointer checkpointer(options(1));
    for (int epoch = 0; epoch < 5; ++epoch) checkpointer.save_checkpoint(epoch, trainer_);
    // The scan is not broken by them either: the newest valid checkpoint restores.
    EXPECT_EQ(checkpointer.restore_checkpoint().training_state.at("epoch").as_int(), 4);
  }
  EXPECT_TRUE(std::filesystem::exists(dir_ / "checkpoints" / "my-notes"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "checkpoints" / "ckpt-0000000000-epoch0-end" /
                                      "model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "checkpoints" / "ckpt-0000000001-epoch0-end"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "config.json"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "model_state_epoch_best.th"));
  // Sequence numbers never collide with the stranger's names.
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()), (std::vector<int64_t>{0, 4}));
}

// Fault 5 of the original: a corrupt newest checkpoint made restore fail or return bad data.
class FallbackTest : public CheckpointerTest,
                     public ::testing::WithParamInterface<std::string> {};

TEST_P(FallbackTest, RestoreSkipsADamagedNewestCheckpoint) {
  Checkpointer checkpointer(options(-1));
  trainer_.step = 1;
  checkpointer.save_checkpoint(0, trainer_);
  auto good = checkpointer.find_latest_checkpoint();
  trainer_.step = 2;
  checkpointer.save_checkpoint(1, trainer_);
  auto newest = checkpointer.find_latest_checkpoint();
  ASSERT_NE(newest->dir, good->dir);

  const std::string damage = GetParam();
  std::filesystem::path damaged_file;
  if (damage == "bit_flip") {
    damaged_file = newest->model;
    auto bytes = testing::read_bytes(damaged_file);
    bytes[bytes.size() - 5] ^= std::byte{0x20};
    testing::write_bytes(damaged_file, bytes);
  } else if (damage == "truncated") {
    damaged_file = newest->training_state;
    std::filesystem::resize_file(damaged_file, std::filesystem::file_size(damaged_file) / 2);
  } else if (damage == "missing_file") {
    damaged_file = newest->model;
    std::filesystem::remove(damaged_file);
  } else if (damage == "garbage_manifest") {
    damaged_file = newest->dir / "MANIFEST.json";
    testing::write_bytes(damaged_file, {std::byte{'x'}, std::byte{'{'}});
  } else if (damage == "missing_manifest") {
    damaged_file = newest->dir / "MANIFEST.json";
    std::filesystem::remove(damaged_file);
  } else if (damage == "edited_manifest") {
    damaged_file = newest->dir / "MANIFEST.json";
    auto bytes = testing::read_bytes(damaged_file);
    std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    text.replace(text.find("\"epoch\": 1"), 10, "\"epoch\": 7");
    testing::write_bytes(damaged_file, std::vector<std::byte>(
        reinterpret_cast<const std::byte*>(text.data()),
        reinterpret_cast<const std::byte*>(text.data()) + text.size()));
  }
  CheckpointState restored = checkpointer.restore_checkpoint();
  EXPECT_EQ(restored.model_state, ToyTrainer::state_at(1).model_state);
  EXPECT_EQ(restored.training_state, expected_training(1, 0));
  auto warnings = log_.matching("warning: skipping checkpoint " + newest->dir.filename().string());
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings.back().find(damaged_file.string()), std::string::npos) << warnings.back();
  EXPECT_EQ(checkpointer.find_latest_checkpoint()->dir, good->dir);  // agrees with restore
}

INSTANTIATE_TEST_SUITE_P(Damage, FallbackTest,
                         ::testing::Values("bit_flip", "truncated", "missing_file",
                                           "garbage_manifest", "missing_manifest",
                                           "edited_manifest"));

TEST_F(CheckpointerTest, AllCorruptMeansNothingToRestore) {
  Checkpointer checkpointer(options(-1));
  checkpointer.save_checkpoint(0, trainer_);
  std::filesystem::remove(checkpointer.find_latest_checkpoint()->model);
  EXPECT_TRUE(checkpointer.restore_checkpoint().model_state.is_null());
  EXPECT_FALSE(checkpointer.find_latest_checkpoint().has_value());
}

// Fault 7 of the original: best did not survive retention.
TEST_F(CheckpointerTest, BestSurvivesRetentionEvenWithKeepZero) {
  Checkpointer checkpointer(options(0));
  for (int epoch = 0; epoch < 4; ++epoch) {
    trainer_.step = 10 + epoch;
    checkpointer.save_checkpoint(epoch, trainer_, /*is_best_so_far=*/true);
  }
  EXPECT_TRUE(testing::epochs_on_disk(dir_.path()).empty());  // N = 0 keeps none
  EXPECT_EQ(checkpointer.best_model_state(), ToyTrainer::state_at(13).model_state);
  EXPECT_TRUE(checkpointer.restore_checkpoint().model_state.is_null());
  EXPECT_EQ(testing::entry_names(dir_ / "best-versions").size(), 1u);  // exactly one best
  EXPECT_TRUE(std::filesystem::is_symlink(dir_ / "best"));
  EXPECT_EQ(load_file(dir_ / "best" / "model.safetensors"), ToyTrainer::state_at(13).model_state);
}

TEST_F(CheckpointerTest, BestIsTheLastSaveMarkedBestAndIsAHardLink) {
  Checkpointer checkpointer(options(-1));
  EXPECT_TRUE(checkpointer.best_model_state().is_null());
  trainer_.step = 1;
  checkpointer.save_checkpoint(0, trainer_, true);
  trainer_.step = 2;
  checkpointer.save_checkpoint(1, trainer_, false);
  EXPECT_EQ(checkpointer.best_model_state(), ToyTrainer::state_at(1).model_state);
  struct stat best {}, original {};
  ASSERT_EQ(::stat((dir_ / "best" / "model.safetensors").c_str(), &best), 0);
  auto infos = checkpointer.list_checkpoints();
  ASSERT_EQ(::stat(infos[0].paths.model.c_str(), &original), 0);
  EXPECT_EQ(best.st_ino, original.st_ino);  // no copy where a link works
  EXPECT_TRUE(infos[0].is_best);
  EXPECT_FALSE(infos[1].is_best);
}

TEST_F(CheckpointerTest, ListCheckpointsDescribesEachOne) {
  auto opts = options(-1);
  opts.model_save_interval = 10;
  Checkpointer checkpointer(opts);
  clock_->advance(10);
  ASSERT_TRUE(checkpointer.maybe_save_checkpoint(trainer_, 0, 5));
  clock_->advance(1);
  checkpointer.save_checkpoint(0, trainer_, true);
  auto infos = checkpointer.list_checkpoints();
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[0].seq, 0);
  EXPECT_EQ(infos[0].batches_this_epoch, 5);
  EXPECT_EQ(infos[0].name, "ckpt-0000000000-epoch0-batch5");
  EXPECT_EQ(infos[1].name, "ckpt-0000000001-epoch0-end");
  EXPECT_FALSE(infos[1].batches_this_epoch.has_value());
  EXPECT_EQ(infos[1].save_time, clock_->now());
  EXPECT_EQ(infos[1].size_bytes,
            std::filesystem::file_size(infos[1].paths.model) +
                std::filesystem::file_size(infos[1].paths.training_state));
  EXPECT_TRUE(infos[1].is_best);
  EXPECT_FALSE(infos[1].permanent);
  // A reader (no save yet) sees the same list from the ledger.
  Checkpointer reader(options(-1));
  EXPECT_EQ(reader.list_checkpoints().size(), 2u);
}

TEST_F(CheckpointerTest, SaveInsideEpochRecordsItsBatchesAndRestartsTheInterval) {
  auto opts = options(3);
  opts.model_save_interval = 10;
  Checkpointer checkpointer(opts);
  clock_->advance(5);
  trainer_.step = 4;
  checkpointer.save_checkpoint_inside_epoch(trainer_, 2, 7);
  auto restored = checkpointer.restore_checkpoint();
  EXPECT_EQ(restored.training_state.at("epoch").as_int(), 2);
  EXPECT_EQ(restored.training_state.at("batches_this_epoch").as_int(), 7);
  EXPECT_EQ(restored.model_state, testing::ToyTrainer::state_at(4).model_state);
  clock_->advance(6);  // 11 s after construction, but only 6 s after the save
  EXPECT_FALSE(checkpointer.maybe_save_checkpoint(trainer_, 2, 8));
  clock_->advance(4);
  EXPECT_TRUE(checkpointer.maybe_save_checkpoint(trainer_, 2, 9));
}

TEST_F(CheckpointerTest, SaveInsideEpochCanBeBestAndRankedByAMetric) {
  auto opts = options(1);
  opts.keep_best_k = 1;
  opts.metric = "loss";
  Checkpointer checkpointer(opts);
  trainer_.step = 1;
  checkpointer.save_checkpoint_inside_epoch(trainer_, 0, 10, true, {{"loss", 0.5}});
  trainer_.step = 2;
  checkpointer.save_checkpoint_inside_epoch(trainer_, 0, 20, false, {{"loss", 0.9}});
  trainer_.step = 3;
  checkpointer.save_checkpoint_inside_epoch(trainer_, 0, 30, false, {{"loss", 0.7}});
  const auto kept = checkpointer.list_checkpoints();
  ASSERT_EQ(kept.size(), 2u);  // the newest, and the best by loss
  EXPECT_EQ(kept[0].batches_this_epoch, 10);
  EXPECT_EQ(kept[0].metrics.at("loss"), 0.5);
  EXPECT_TRUE(kept[0].is_best);
  EXPECT_EQ(kept[1].batches_this_epoch, 30);
  EXPECT_EQ(checkpointer.best_model_state(), testing::ToyTrainer::state_at(1).model_state);
}

TEST_F(CheckpointerTest, LogsEverySaveKeepAndDelete) {
  auto opts = options(1);
  opts.keep_serialized_model_every_num_seconds = 5;
  Checkpointer checkpointer(opts);
  clock_->advance(10);
  checkpointer.save_checkpoint(0, trainer_);
  checkpointer.save_checkpoint(1, trainer_);
  checkpointer.save_checkpoint(2, trainer_);
  EXPECT_EQ(log_.matching("saved ").size(), 3u);
  EXPECT_EQ(log_.matching("ckpt-0000000000-epoch0-end kept: for good, one every 5 s (10 s after").size(), 1u);
  EXPECT_EQ(log_.matching("ckpt-0000000001-epoch1-end deleted: outside the last 1, no policy keeps it (only 0 s after the last one kept for good)").size(), 1u);
  CheckpointerOptions quiet = opts;
  quiet.logger = null_logger();
  EXPECT_NO_THROW(Checkpointer(quiet).restore_checkpoint());
}

TEST_F(CheckpointerTest, RealisticOptimizerStateRoundTrips) {
  Checkpointer checkpointer(options());
  CheckpointState adam;
  State& optimizer = adam.training_state["optimizer"];
  for (int param = 0; param < 20; ++param) {
    State& slot = optimizer["state"][std::to_string(param)];
    slot["step"] = 12345;
    slot["exp_avg"] = testing::patterned_tensor(DType::F32, {64, 3}, static_cast<uint32_t>(param));
    slot["exp_avg_sq"] = testing::patterned_tensor(DType::F32, {64, 3}, static_cast<uint32_t>(param + 100));
    slot["max_exp_avg_sq"] = testing::patterned_tensor(DType::BF16, {64, 3}, static_cast<uint32_t>(param + 200));
  }
  optimizer["param_groups"].push_back(State::map());
  optimizer["param_groups"][0]["amsgrad"] = true;
  optimizer["param_groups"][0]["weight_decay"] = 0.01;
  adam.training_state["rng"]["torch"] = testing::patterned_tensor(DType::U8, {5056}, 9);
  adam.training_state["rng"]["python"] = "opaque state";
  adam.model_state["encoder.layers.0.attention.weight"] =
      testing::patterned_tensor(DType::F16, {128, 128}, 77);
  struct Fixed : Trainer {
    CheckpointState state;
    CheckpointState get_checkpoint_state() override { return state; }
  } fixed;
  fixed.state = adam;
  checkpointer.save_checkpoint(9, fixed);
  CheckpointState restored = checkpointer.restore_checkpoint();
  adam.training_state["epoch"] = 9;
  EXPECT_EQ(restored.model_state, adam.model_state);
  EXPECT_EQ(restored.training_state, adam.training_state);
}

TEST_F(CheckpointerTest, BadArgumentsAreClearErrors) {
  EXPECT_THROW(Checkpointer(CheckpointerOptions{}), InvalidArgumentError);
  auto negative = options();
  negative.model_save_interval = -1;
  EXPECT_THROW(Checkpointer{negative}, InvalidArgumentError);
  Checkpointer checkpointer(options());
  EXPECT_THROW(checkpointer.save_checkpoint(-1, trainer_), InvalidArgumentError);
  struct ListTrainer : Trainer {
    CheckpointState get_checkpoint_state() override { return {State(1), State::list()}; }
  } list_trainer;
  EXPECT_THROW(checkpointer.save_checkpoint(0, list_trainer), InvalidArgumentError);
}

TEST_F(CheckpointerTest, StagingLeftoversAreRemovedByTheNextWriter) {
  std::filesystem::create_directories(dir_ / "staging" / "ckpt-0000000007-epoch3-end.4242.0");
  testing::write_bytes(dir_ / "staging" / "ckpt-0000000007-epoch3-end.4242.0" / "model.safetensors",
                       std::vector<std::byte>(64));
  Checkpointer checkpointer(options());
  EXPECT_FALSE(checkpointer.find_latest_checkpoint().has_value());  // never read
  checkpointer.save_checkpoint(0, trainer_);
  EXPECT_TRUE(testing::entry_names(dir_ / "staging").empty());
  EXPECT_EQ(log_.matching("left by a writer that crashed").size(), 1u);
}

TEST_F(CheckpointerTest, OneWriterPerDirectoryInProcessToo) {
  Checkpointer first(options());
  first.save_checkpoint(0, trainer_);
  Checkpointer second(options());
  EXPECT_NO_THROW(second.restore_checkpoint());  // readers need no lock
  try {
    second.save_checkpoint(1, trainer_);
    FAIL() << "two writers on one directory";
  } catch (const LockedError& error) {
    EXPECT_EQ(error.holder_pid(), ::getpid());
    EXPECT_NE(std::string(error.what()).find("locked by pid"), std::string::npos);
  }
}

}  // namespace
}  // namespace cairn
