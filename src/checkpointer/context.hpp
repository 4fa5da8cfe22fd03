// What every part of a Checkpointer shares: its options and the seams they chose (storage,
// clock, logger, ranks), with the defaults filled in.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "cairn/checkpointer.hpp"
#include "checkpointer/rank_group.hpp"
#include "retention/policy.hpp"

namespace cairn::checkpointer {

struct Context {
  explicit Context(CheckpointerOptions opts);

  CheckpointerOptions options;
  Storage& storage;
  std::shared_ptr<Clock> clock;
  Logger logger;
  RankGroup ranks;

  const std::filesystem::path& dir() const noexcept { return options.serialization_dir; }
  std::filesystem::path checkpoints_dir() const;
  // Tells the logger; a failing logger never fails a save. Not noexcept: a forced unwind
  // (core/forced_unwind.hpp) must pass.
  void log(LogLevel level, const std::string& message) const;
};

}  // namespace cairn::checkpointer

namespace cairn::checkpoint {
// The retention policies the options ask for.
RetentionPolicy policy_of(const CheckpointerOptions& options);
}  // namespace cairn::checkpoint
