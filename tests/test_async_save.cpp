// Asynchronous saves: the call returns once the state is copied, training may change its tensors
// at once, the checkpoint holds the state as it was at the call, failures reach the next call,
// and staging memory is reused and bounded.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "cairn/cairn.hpp"
#include "checkpointer/staging_memory.hpp"
#include "support/faulty_storage.hpp"
#include "support/forwarding_storage.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

using testing::TempDir;
using testing::ToyTrainer;

// Holds every tensor file's creation until open() is called: the save stays in flight.
class GatedStorage final : public testing::ForwardingStorage {
 public:
  std::unique_ptr<WritableFile> create_file(const std::filesystem::path& path) override {
    if (path.extension() == ".safetensors") {
      std::unique_lock lock(mutex_);
      ++waiting_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return open_; });
    }
    return ForwardingStorage::create_file(path);
  }
  // Blocks until a save waits at the gate.
  void await_writer() {
    std::unique_lock lock(mutex_);
    ASSERT_TRUE(changed_.wait_for(lock, std::chrono::seconds(30), [&] { return waiting_ > 0; }));
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int waiting_ = 0;
  bool open_ = false;
};

// A trainer whose state views its own memory, which training then changes in place.
class InPlaceTrainer final : public Trainer {
 public:
  std::vector<float> weights = std::vector<float>(100000, 1.0f);
  CheckpointState get_checkpoint_state() override {
    State model = State::map();
    model["w"] = Tensor::view(DType::F32, {static_cast<int64_t>(weights.size())}, weights.data(),
                              weights.size() * sizeof(float));
    return {model, State::map()};
  }
};

CheckpointerOptions async_options(const std::filesystem::path& dir, Storage* storage = nullptr) {
  CheckpointerOptions options = testing::quiet_options(dir, 2, storage);
  options.async_save = true;
  return options;
}

float restored_weight(const std::filesystem::path& dir) {
  const State model = Checkpointer(testing::quiet_options(dir)).restore_checkpoint().model_state;
  return reinterpret_cast<const float*>(model.at("w").as_tensor().data().data())[0];
}

TEST(AsyncSave, ReturnsWhileTheWriteWaitsAndSavesTheStateAsItWasAtTheCall) {
  TempDir dir;
  GatedStorage gate;
  InPlaceTrainer trainer;
  Checkpointer checkpointer(async_options(dir.path(), &gate));
  checkpointer.save_checkpoint(0, trainer);  // returns although no file can be written yet
  gate.await_writer();
  std::fill(trainer.weights.begin(), trainer.weights.end(), 2.0f);  // training goes on
  EXPECT_TRUE(testing::epochs_on_disk(dir.path()).empty());
  gate.open();
  checkpointer.wait();
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{0}));
  EXPECT_EQ(restored_weight(dir.path()), 1.0f);
}

TEST(AsyncSave, TheNextSaveWaitsForTheOneInFlightAndRetentionHolds) {
  TempDir dir;
  ToyTrainer trainer;
  {
    Checkpointer checkpointer(async_options(dir.path()));
    for (int epoch = 0; epoch < 6; ++epoch) {
      trainer.step = epoch;
      checkpointer.save_checkpoint(epoch, trainer, /*is_best_so_far=*/epoch == 3);
    }
  }  // the destructor waits for the last one
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{4, 5}));
  Checkpointer reader(testing::quiet_options(dir.path()));
  const CheckpointState restored = reader.restore_checkpoint();
  EXPECT_EQ(restored.model_state, ToyTrainer::state_at(5).model_state);
  EXPECT_EQ(restored.training_state.at("epoch").as_int(), 5);
  EXPECT_EQ(reader.best_model_state(), ToyTrainer::state_at(3).model_state);
}

TEST(AsyncSave, ABackgroundFailureIsThrownByTheNextCallAndNothingIsPublished) {
  TempDir dir;
  testing::FaultyStorage disk;
  ToyTrainer trainer;
  Checkpointer checkpointer(async_options(dir.path(), &disk));
  trainer.step = 1;
  checkpointer.save_checkpoint(0, trainer);
  checkpointer.wait();
  disk.fail_at(12, ENOSPC);  // somewhere inside the next save's writes
  trainer.step = 2;
  checkpointer.save_checkpoint(1, trainer);
  EXPECT_THROW(checkpointer.wait(), IoError);
  checkpointer.wait();  // reported once
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{0}));
  EXPECT_EQ(checkpointer.restore_checkpoint().model_state, ToyTrainer::state_at(1).model_state);
  trainer.step = 3;
  checkpointer.save_checkpoint(2, trainer);
  checkpointer.wait();
  EXPECT_EQ(checkpointer.restore_checkpoint().model_state, ToyTrainer::state_at(3).model_state);
}

TEST(AsyncSave, MaybeSaveReportsAFinishedFailureWithoutWaiting) {
  TempDir dir;
  testing::FaultyStorage disk;
  ToyTrainer trainer;
  Checkpointer checkpointer(async_options(dir.path(), &disk));
  disk.fail_at(3, EIO);
  checkpointer.save_checkpoint(0, trainer);
  // No interval: maybe_save never saves, yet it reports the failure once the save has ended.
  bool thrown = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!thrown && std::chrono::steady_clock::now() < deadline) {
    try {
      EXPECT_FALSE(checkpointer.maybe_save_checkpoint(trainer, 0, 1));
    } catch (const IoError&) {
      thrown = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(thrown);
  EXPECT_NO_THROW(checkpointer.wait());
}

TEST(AsyncSave, ATrainerThatThrowsFailsTheCallItself) {
  struct Broken final : Trainer {
    CheckpointState get_checkpoint_state() override { throw std::runtime_error("no state today"); }
  } broken;
  TempDir dir;
  Checkpointer checkpointer(async_options(dir.path()));
  EXPECT_THROW(checkpointer.save_checkpoint(0, broken), std::runtime_error);
  EXPECT_NO_THROW(checkpointer.wait());
  EXPECT_TRUE(testing::epochs_on_disk(dir.path()).empty());
}

TEST(AsyncSave, AStateAboveTheStagingBoundIsSavedSynchronouslyWithAWarning) {
  TempDir dir;
  GatedStorage gate;
  gate.open();
  testing::LogRecorder log;
  auto clock = std::make_shared<testing::FakeClock>();
  CheckpointerOptions options = testing::test_options(dir.path(), clock, log);
  options.async_save = true;
  options.async_staging_bytes = 1000;  // the trainer's state takes 400,000 bytes
  InPlaceTrainer trainer;
  Checkpointer checkpointer(options);
  checkpointer.save_checkpoint(0, trainer);
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{0}));  // before any wait
  EXPECT_EQ(log.matching("saving synchronously").size(), 1u);
}

TEST(AsyncSave, FromConfig) {
  TempDir dir;
  auto checkpointer = Checkpointer::from_config(
      R"({"async_save": true, "async_staging_bytes": 1048576})", dir.path());
  EXPECT_TRUE(checkpointer->options().async_save);
  EXPECT_EQ(checkpointer->options().async_staging_bytes, 1048576u);
  EXPECT_NE(testing::invalid_argument_message([&] {
              Checkpointer::from_config(R"({"async_save": 1})", dir.path());
            }).find("async_save"),
            std::string::npos);
  EXPECT_NE(testing::invalid_argument_message([&] {
              Checkpointer::from_config(R"({"async_staging_bytes": -1})", dir.path());
            }).find("async_staging_bytes"),
            std::string::npos);
}

TEST(StagingMemory, CopiesTheStateAndReusesItsMemory) {
  checkpoint::StagingMemory memory("/nowhere", std::nullopt);
  const CheckpointState state = ToyTrainer::state_at(7);
  const CheckpointState staged = memory.stage(state);
  EXPECT_EQ(staged.model_state, state.model_state);
  EXPECT_EQ(staged.training_state, state.training_state);
  const std::byte* first = staged.model_state.at("fc1.weight").as_tensor().data().data();
  EXPECT_NE(first, state.model_state.at("fc1.weight").as_tensor().data().data());
  const uint64_t capacity = memory.capacity();
  EXPECT_EQ(capacity, checkpoint::StagingMemory::staged_size(state));
  const CheckpointState again = memory.stage(ToyTrainer::state_at(8));
  EXPECT_EQ(again.model_state, ToyTrainer::state_at(8).model_state);
  EXPECT_EQ(again.model_state.at("fc1.weight").as_tensor().data().data(), first);  // reused
  EXPECT_EQ(memory.capacity(), capacity);
  for (const auto& [name, value] : again.model_state.items()) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(value.as_tensor().data().data()) % 64, 0u) << name;
  }
}

TEST(StagingMemory, TheBoundIsKept) {
  checkpoint::StagingMemory memory("/nowhere", 4096);
  EXPECT_TRUE(memory.fits(4096));
  EXPECT_FALSE(memory.fits(4097));
}

}  // namespace
}  // namespace cairn
