#include "checkpointer/context.hpp"

#include "checkpoint/layout.hpp"
#include "core/forced_unwind.hpp"

namespace cairn::checkpointer {

Context::Context(CheckpointerOptions opts)
    : options(std::move(opts)),
      storage(options.storage != nullptr ? *options.storage : local_storage()),
      clock(options.clock != nullptr ? options.clock : system_clock()),
      logger(options.logger ? options.logger : stderr_logger()),
      ranks(options.coordinator != nullptr ? *options.coordinator : single_process_coordinator(),
            options.serialization_dir) {}

std::filesystem::path Context::checkpoints_dir() const {
  return options.serialization_dir / checkpoint::kCheckpointsDir;
}

void Context::log(LogLevel level, const std::string& message) const {
  try {
    logger(level, message);
  }
  CAIRN_RETHROW_FORCED_UNWIND
  catch (...) {  // NOLINT(bugprone-empty-catch): a failing logger must not fail a save
  }
}

}  // namespace cairn::checkpointer

namespace cairn::checkpoint {

RetentionPolicy policy_of(const CheckpointerOptions& options) {
  RetentionPolicy policy;
  policy.keep_last = options.num_serialized_models_to_keep;
  policy.keep_every_seconds = options.keep_serialized_model_every_num_seconds;
  policy.keep_best_k = options.keep_best_k;
  policy.metric = options.metric;
  policy.mode = options.mode;
  policy.keep_every_n_epochs = options.keep_every_n_epochs;
  return policy;
}

}  // namespace cairn::checkpoint
