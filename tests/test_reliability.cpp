// A checkpoint library on its worst day: bit rot, a full disk, faults while restoring.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cstring>
#include <random>

#include "cairn/cairn.hpp"
#include "support/faulty_storage.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::FaultyStorage;
using testing::TempDir;
using testing::ToyTrainer;

// Flip one bit at many random places of every file of the newest checkpoint, one flip at a time:
// verify reports each, and restore never returns the damaged data: it falls back to the
// checkpoint before.
TEST(BitRot, EveryFlipIsDetectedAndRestoreFallsBack) {
  TempDir dir;
  Checkpointer checkpointer(testing::quiet_options(dir.path(), -1));
  ToyTrainer trainer;
  trainer.step = 1;
  checkpointer.save_checkpoint(0, trainer);
  trainer.step = 2;
  checkpointer.save_checkpoint(1, trainer, true);
  const CheckpointPaths newest = *checkpointer.find_latest_checkpoint();
  const CheckpointState previous = [&] {
    CheckpointState state = ToyTrainer::state_at(1);
    state.training_state["epoch"] = 0;
    return state;
  }();

  std::mt19937 random(77);
  int tried = 0, detected = 0, fell_back = 0;
  for (const fs::path& file : {newest.model, newest.training_state, newest.dir / "MANIFEST.json"}) {
    const std::vector<std::byte> original = testing::read_bytes(file);
    // Uniform positions, plus extra ones in the first 512 bytes (length, header, metadata).
    for (int i = 0; i < 160; ++i) {
      const size_t limit = i % 2 == 0 ? original.size() : std::min<size_t>(512, original.size());
      const size_t position = random() % limit;
      std::vector<std::byte> flipped = original;
      flipped[position] ^= std::byte(1u << (random() % 8));
      testing::write_bytes(file, flipped);
      ++tried;
      VerifyReport report = verify_path(newest.dir);
      if (!report.ok()) ++detected;
      CheckpointState restored = checkpointer.restore_checkpoint();
      if (restored.model_state == previous.model_state &&
          restored.training_state == previous.training_state) {
        ++fell_back;
      } else {
        ADD_FAILURE() << file << " byte " << position << ": restore did not fall back";
      }
      testing::write_bytes(file, original);
    }
  }
  EXPECT_EQ(detected, tried);
  EXPECT_EQ(fell_back, tried);
  std::printf("bit rot: %d of %d flips detected, restore fell back %d times\n", detected, tried,
              fell_back);
  // best/ is checked the same way.
  auto best_model = fs::canonical(dir / "best") / "model.safetensors";
  auto bytes = testing::read_bytes(best_model);
  bytes[bytes.size() / 2] ^= std::byte{0x40};
  testing::write_bytes(best_model, bytes);
  EXPECT_THROW(checkpointer.best_model_state(), CorruptDataError);
}

TEST(FreeSpace, ASaveThatCannotFitFailsBeforeWritingAnything) {
  TempDir dir;
  FaultyStorage tight;
  auto options = testing::quiet_options(dir.path(), -1);
  options.storage = &tight;
  Checkpointer checkpointer(options);
  ToyTrainer trainer;
  checkpointer.save_checkpoint(0, trainer);
  tight.set_available_bytes(100'000);  // less than the 1 MiB margin a save asks for
  try {
    checkpointer.save_checkpoint(1, trainer);
    FAIL() << "no error";
  } catch (const IoError& error) {
    EXPECT_EQ(error.error_code(), ENOSPC);
    EXPECT_NE(std::string(error.what()).find("No space left on device: needs about"),
              std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("nothing was written"), std::string::npos);
  }
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{0}));
  EXPECT_TRUE(testing::entry_names(dir / "staging").empty());
  tight.set_available_bytes(std::nullopt);
  checkpointer.save_checkpoint(1, trainer);
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{0, 1}));
}

// A real small filesystem (tmpfs, mounted by the test: the suite runs as root).
TEST(FullDisk, RealTmpfsFillsUpThenSavingContinuesAfterFreeingSpace) {
  TempDir dir;
  if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=12m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                 << "): the real full-disk test needs root";
  }
  struct Unmount {
    fs::path path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{dir.path()};
  struct Big : Trainer {
    int64_t step = 0;
    CheckpointState get_checkpoint_state() override {
      CheckpointState state = ToyTrainer::state_at(step);
      state.model_state["big"] =
          testing::patterned_tensor(DType::U8, {1'500'000}, static_cast<uint32_t>(step));
      return state;
    }
  } trainer;
  auto checkpointer = std::make_unique<Checkpointer>(testing::quiet_options(dir.path(), -1));
  int saved = 0;
  std::string failure;
  for (; saved < 20; ++saved) {
    trainer.step = saved;
    try {
      checkpointer->save_checkpoint(saved, trainer);
    } catch (const IoError& error) {
      EXPECT_EQ(error.error_code(), ENOSPC) << error.what();
      failure = error.what();
      break;
    }
  }
  ASSERT_FALSE(failure.empty()) << "12 MiB never filled up";
  EXPECT_NE(failure.find("No space left on device"), std::string::npos) << failure;
  EXPECT_GE(saved, 3);
  // Everything saved before verifies, and nothing half-written is visible.
  EXPECT_TRUE(verify_path(dir.path()).ok());
  EXPECT_EQ(static_cast<int>(testing::epochs_on_disk(dir.path()).size()), saved);
  EXPECT_TRUE(testing::entry_names(dir / "staging").empty());
  // Free space (the writer stops, a prune keeps the newest), then saving continues.
  checkpointer.reset();
  RetentionOverrides keep_one;
  keep_one.num_serialized_models_to_keep = 1;
  prune_directory(dir.path(), keep_one, false);
  checkpointer = std::make_unique<Checkpointer>(testing::quiet_options(dir.path(), -1));
  trainer.step = saved;
  checkpointer->save_checkpoint(saved, trainer);
  EXPECT_EQ(testing::epochs_on_disk(dir.path()),
            (std::vector<int64_t>{saved - 1, saved}));
  EXPECT_EQ(checkpointer->restore_checkpoint().model_state.at("big"),
            trainer.get_checkpoint_state().model_state.at("big"));
}

// Faults at every storage operation of a restore: it raises the error or returns the right
// state, never something else.
TEST(RestoreFaults, EveryStepOfARestore) {
  TempDir dir;
  {
    Checkpointer writer(testing::quiet_options(dir.path(), -1));
    ToyTrainer trainer;
    trainer.step = 1;
    writer.save_checkpoint(0, trainer);
    trainer.step = 2;
    writer.save_checkpoint(1, trainer);
  }
  CheckpointState expected = ToyTrainer::state_at(2);
  expected.training_state["epoch"] = 1;
  long steps;
  {
    FaultyStorage counter;
    auto options = testing::quiet_options(dir.path(), -1);
    options.storage = &counter;
    Checkpointer(options).restore_checkpoint();
    steps = counter.operations();
  }
  ASSERT_GT(steps, 5);
  for (int error_code : {EIO, EACCES}) {
    for (long step = 0; step < steps; ++step) {
      FaultyStorage faulty;
      faulty.fail_at(step, error_code);
      auto options = testing::quiet_options(dir.path(), -1);
      options.storage = &faulty;
      try {
        CheckpointState restored = Checkpointer(options).restore_checkpoint();
        EXPECT_EQ(restored.model_state, expected.model_state) << "step " << step;
        EXPECT_EQ(restored.training_state, expected.training_state) << "step " << step;
      } catch (const IoError& error) {
        EXPECT_EQ(error.error_code(), error_code);
      }
    }
  }
  std::printf("restore faults: EIO and EACCES injected at each of %ld storage operations\n", steps);
}

}  // namespace
}  // namespace cairn
