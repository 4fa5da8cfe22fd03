// Pieces for Checkpointer tests: a clock the test moves, a trainer whose state changes with
// every step (model weights plus an Adam-like optimizer state), and a log recorder.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/cairn.hpp"
#include "support/temp_dir.hpp"

namespace cairn::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(double start = 1'700'000'000.0) : now_(start) {}
  double now() override { return now_; }
  double monotonic_now() override { return elapsed_; }
  // Time passes: both clocks move.
  void advance(double seconds) {
    now_ += seconds;
    elapsed_ += seconds;
  }
  // The wall clock is set (by NTP, or a person): only it moves.
  void set_wall_clock(double now) { now_ = now; }

 private:
  double now_;
  double elapsed_ = 0;
};

// Model: two layers whose values depend on `step`; training state: an optimizer state with
// per-parameter step counts and moment tensors, param groups, and a counter.
class ToyTrainer final : public Trainer {
 public:
  int64_t step = 0;
  int calls = 0;  // how often the checkpointer asked for the state
  CheckpointState get_checkpoint_state() override;
  // The state this trainer reports at `step` (without the checkpointer's additions).
  static CheckpointState state_at(int64_t step);
};

struct LogRecorder {
  std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
  Logger logger() const;
  // Lines containing `fragment`.
  std::vector<std::string> matching(const std::string& fragment) const;
};

// Options with a fake clock and a recording logger.
CheckpointerOptions test_options(const std::filesystem::path& dir,
                                 const std::shared_ptr<FakeClock>& clock, const LogRecorder& log);

// Options for `dir` with a silent logger, the real clock and `keep` recent checkpoints.
CheckpointerOptions quiet_options(const std::filesystem::path& dir, std::optional<int> keep = 2,
                                  Storage* storage = nullptr);

// The message of the InvalidArgumentError `action` throws; "" when it throws none.
std::string invalid_argument_message(const std::function<void()>& action);

// Epochs of the checkpoint folders (named as cairn names them) on disk, in save order.
std::vector<int64_t> epochs_on_disk(const std::filesystem::path& serialization_dir);

}  // namespace cairn::testing
