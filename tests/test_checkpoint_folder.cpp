// CheckpointFolder: one committed checkpoint folder opened on its own, as the CLI, verify_path
// and the Python tools do: its facts agree with list_checkpoints, load with restore_checkpoint,
// and damage is reported by verify and thrown by load, naming the file.
#include <gtest/gtest.h>

#include "cairn/cairn.hpp"
#include "support/sharded_states.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/thread_ranks.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;

void flip_byte(const fs::path& path) {
  auto bytes = testing::read_bytes(path);
  bytes[bytes.size() - 3] ^= std::byte{4};
  testing::write_bytes(path, bytes);
}

// The CorruptDataError `action` throws (fails the test when it throws none).
CorruptDataError corrupt_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const CorruptDataError& error) {
    return error;
  }
  ADD_FAILURE() << "no CorruptDataError";
  return CorruptDataError("", "");
}

class CheckpointFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = testing::test_options(dir_.path(), clock_, log_);
    options.num_serialized_models_to_keep = 3;
    Checkpointer checkpointer(options);
    for (int epoch = 0; epoch < 3; ++epoch) {
      trainer_.step = epoch;
      clock_->advance(60);
      checkpointer.save_checkpoint(epoch, trainer_, epoch == 1, {{"loss", 1.0 / (epoch + 1)}});
    }
    trainer_.step = 7;
    checkpointer.save_checkpoint_inside_epoch(trainer_, 3, 5);
    infos_ = checkpointer.list_checkpoints();
    restored_ = checkpointer.restore_checkpoint();
  }
  fs::path newest() const { return infos_.back().paths.model.parent_path(); }

  testing::TempDir dir_;
  std::shared_ptr<testing::FakeClock> clock_ = std::make_shared<testing::FakeClock>();
  testing::LogRecorder log_;
  testing::ToyTrainer trainer_;
  std::vector<CheckpointInfo> infos_;
  CheckpointState restored_;
};

TEST_F(CheckpointFolderTest, FactsEqualListCheckpoints) {
  ASSERT_EQ(infos_.size(), 3u);
  for (const CheckpointInfo& info : infos_) {
    const CheckpointFolder folder = CheckpointFolder::open(info.paths.model.parent_path());
    EXPECT_EQ(folder.name(), info.name);
    EXPECT_EQ(folder.seq(), info.seq);
    EXPECT_EQ(folder.epoch(), info.epoch);
    EXPECT_EQ(folder.batches_this_epoch(), info.batches_this_epoch);
    EXPECT_EQ(folder.save_time(), info.save_time);
    EXPECT_EQ(folder.metrics(), info.metrics);
    EXPECT_EQ(folder.size_bytes(), info.size_bytes);
    EXPECT_EQ(folder.shard_files(), 0);
    EXPECT_FALSE(folder.is_best_version());
    ASSERT_EQ(folder.files().size(), 2u);
    EXPECT_EQ(folder.files()[0].path, info.paths.model);
    EXPECT_EQ(folder.files()[0].role, CheckpointFileRole::Model);
    EXPECT_EQ(folder.files()[0].size, fs::file_size(info.paths.model));
    EXPECT_EQ(folder.files()[1].path, info.paths.training_state);
    EXPECT_EQ(folder.files()[1].role, CheckpointFileRole::TrainingState);
    EXPECT_EQ(folder.files()[1].size, fs::file_size(info.paths.training_state));
  }
  EXPECT_EQ(CheckpointFolder::open(newest()).batches_this_epoch(), 5);
}

TEST_F(CheckpointFolderTest, LoadEqualsRestoreAndVerifyPasses) {
  const CheckpointFolder folder = CheckpointFolder::open(newest());
  const CheckpointState loaded = folder.load();
  EXPECT_EQ(loaded.model_state, restored_.model_state);
  EXPECT_EQ(loaded.training_state, restored_.training_state);
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  const VerifyReport report = folder.verify([&](uint64_t done, uint64_t total) {
    calls.emplace_back(done, total);
  });
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.files, 2u);
  EXPECT_EQ(report.bytes, folder.size_bytes());
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), std::pair(folder.size_bytes(), folder.size_bytes()));
}

TEST_F(CheckpointFolderTest, OpensAVersionOfTheBestModel) {
  const CheckpointFolder best = CheckpointFolder::open(dir_.path() / "best");
  EXPECT_TRUE(best.is_best_version());
  EXPECT_EQ(best.epoch(), 1);
  ASSERT_EQ(best.files().size(), 1u);
  EXPECT_EQ(best.files()[0].role, CheckpointFileRole::Model);
  const CheckpointState loaded = best.load();
  EXPECT_EQ(loaded.model_state, testing::ToyTrainer::state_at(1).model_state);
  EXPECT_TRUE(loaded.training_state.is_null());
  EXPECT_TRUE(best.verify().ok());
}

TEST_F(CheckpointFolderTest, AFlippedByteIsReportedByVerifyAndThrownByLoadNamingTheFile) {
  const CheckpointFolder folder = CheckpointFolder::open(newest());  // before the damage
  const fs::path training = infos_.back().paths.training_state;
  flip_byte(training);
  const VerifyReport report = folder.verify();
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].file, training);
  EXPECT_FALSE(report.problems[0].tensor.empty());
  const CorruptDataError error = corrupt_error([&] { CheckpointFolder::open(newest()).load(); });
  EXPECT_EQ(error.path(), training);
  EXPECT_NE(std::string(error.what()).find(training.string()), std::string::npos) << error.what();
}

TEST_F(CheckpointFolderTest, AMissingFileIsReportedAndThrown) {
  const CheckpointFolder folder = CheckpointFolder::open(newest());
  fs::remove(infos_.back().paths.model);
  const VerifyReport report = folder.verify();
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].file, infos_.back().paths.model);
  EXPECT_EQ(report.problems[0].what, "missing (incomplete checkpoint)");
  const CorruptDataError error = corrupt_error([&] { folder.load(); });
  EXPECT_EQ(error.path(), infos_.back().paths.model);
}

TEST_F(CheckpointFolderTest, AMissingOrAlteredManifestIsRefusedByOpen) {
  const fs::path manifest = newest() / "MANIFEST.json";
  auto text = testing::read_bytes(manifest);
  fs::remove(manifest);
  CorruptDataError error = corrupt_error([&] { CheckpointFolder::open(newest()); });
  EXPECT_EQ(error.path(), manifest);
  EXPECT_NE(std::string(error.what()).find("missing (incomplete checkpoint)"), std::string::npos);
  text[text.size() / 2] ^= std::byte{1};
  testing::write_bytes(manifest, text);
  error = corrupt_error([&] { CheckpointFolder::open(newest()); });
  EXPECT_EQ(error.path(), manifest);
}

TEST_F(CheckpointFolderTest, AFolderRenamedAwayFromItsManifestDoesNotLoad) {
  const fs::path renamed = newest().parent_path() / "ckpt-0000000099-epoch9-end";
  fs::rename(newest(), renamed);
  const CheckpointFolder folder = CheckpointFolder::open(renamed);
  const CorruptDataError error = corrupt_error([&] { folder.load(); });
  EXPECT_EQ(error.path(), renamed / "MANIFEST.json");
  const VerifyReport report = folder.verify();
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].what, "manifest does not match the folder's name");
}

TEST_F(CheckpointFolderTest, NotAFolderOrNoFolderIsRefused) {
  EXPECT_THROW(CheckpointFolder::open(infos_.back().paths.model), InvalidArgumentError);
  try {
    CheckpointFolder::open(dir_.path() / "missing");
    FAIL() << "opened a missing folder";
  } catch (const IoError& error) {
    EXPECT_EQ(error.error_code(), ENOENT);
    EXPECT_EQ(error.path(), dir_.path() / "missing");
  }
}

TEST_F(CheckpointFolderTest, FindStateFilesWorksWithoutTheManifest) {
  fs::remove(newest() / "MANIFEST.json");
  const std::vector<CheckpointFile> found = CheckpointFolder::find_state_files(newest());
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].path, infos_.back().paths.model);
  EXPECT_EQ(found[1].role, CheckpointFileRole::TrainingState);
  EXPECT_EQ(found[1].size, fs::file_size(infos_.back().paths.training_state));
}

TEST(CheckpointFolderSharded, ListsEachRanksFileAndLoadsEqualToRestore) {
  testing::TempDir dir;
  {
    testing::ThreadRanks group(3);
    for (const auto& error : group.run([&](int rank) {
           Checkpointer checkpointer(testing::rank_options(dir.path(), group.rank(rank)));
           testing::ShardedTrainer trainer;
           trainer.rank = rank;
           trainer.ranks = 3;
           trainer.step = 2;
           checkpointer.save_checkpoint(2, trainer, false);
         })) {
      if (error) std::rethrow_exception(error);
    }
  }
  Checkpointer checkpointer(testing::quiet_options(dir.path()));
  const std::vector<CheckpointInfo> infos = checkpointer.list_checkpoints();
  ASSERT_EQ(infos.size(), 1u);
  const CheckpointFolder folder = CheckpointFolder::open(infos[0].paths.model.parent_path());
  EXPECT_EQ(folder.shard_files(), 3);
  EXPECT_EQ(folder.shard_files(), infos[0].shard_files);
  ASSERT_EQ(folder.files().size(), 5u);
  EXPECT_EQ(folder.files()[2].name, "shards-rank00000.safetensors");
  EXPECT_EQ(folder.files()[4].role, CheckpointFileRole::Shard);
  const CheckpointState restored = checkpointer.restore_checkpoint();
  const CheckpointState loaded = folder.load();
  EXPECT_EQ(loaded.model_state, restored.model_state);
  EXPECT_EQ(loaded.training_state, restored.training_state);
  EXPECT_EQ(loaded.shards.size(), restored.shards.size());
  EXPECT_TRUE(folder.verify().ok());
  flip_byte(folder.files()[3].path);
  const VerifyReport report = folder.verify();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problems[0].file, folder.files()[3].path);
  EXPECT_EQ(corrupt_error([&] { folder.load(); }).path(), folder.files()[3].path);
}

}  // namespace
}  // namespace cairn
