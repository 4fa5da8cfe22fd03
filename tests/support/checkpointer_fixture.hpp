// A test fixture for a Checkpointer on a fresh directory: a clock the test moves, a recording
// logger, and the toy trainer (support/trainers.hpp).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "cairn/cairn.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn::testing {

class CheckpointerFixture : public ::testing::Test {
 protected:
  // Options for dir_ with the fake clock, the recording logger and `keep` recent checkpoints.
  CheckpointerOptions options(std::optional<int> keep = 2) {
    auto result = test_options(dir_.path(), clock_, log_);
    result.num_serialized_models_to_keep = keep;
    return result;
  }
  // End-of-epoch saves of epochs first..first+count-1, the trainer at step = epoch, the clock
  // moved seconds_between_saves_ before each.
  void save_epochs(Checkpointer& checkpointer, int64_t first, int64_t count) {
    for (int64_t epoch = first; epoch < first + count; ++epoch) {
      trainer_.step = epoch;
      clock_->advance(seconds_between_saves_);
      checkpointer.save_checkpoint(epoch, trainer_);
    }
  }

  TempDir dir_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  LogRecorder log_;
  ToyTrainer trainer_;
  double seconds_between_saves_ = 0;
};

}  // namespace cairn::testing
