// The default Checkpointer: a thin facade over its parts, each in a file of its own:
// - context.hpp: the options and seams every part shares;
// - rank_group.hpp, rank_messages.hpp: the collectives of several ranks and what they carry;
// - save.hpp: the save protocol, synchronous or in the background;
// - directory_writer.hpp: the directory's one writer (lock, ledger, staging, commit, retention);
// - checkpoint_reader.hpp: the newest valid checkpoint, restore, best, listing.
#include <exception>

#include "cairn/checkpointer.hpp"
#include "cairn/error.hpp"
#include "checkpointer/checkpoint_reader.hpp"
#include "checkpointer/context.hpp"
#include "checkpointer/directory_writer.hpp"
#include "checkpointer/save.hpp"
#include "retention/disk_retention.hpp"
#include "retention/policy.hpp"

namespace cairn {

using checkpointer::SaveRequest;

struct Checkpointer::Impl {
  explicit Impl(CheckpointerOptions options)
      : context(std::move(options)),
        writer(context, context.clock->now()),
        saver(context, writer),
        reader(context),
        last_timed_save(context.clock->monotonic_now()) {}

  checkpointer::Context context;
  checkpointer::DirectoryWriter writer;
  checkpointer::Saver saver;
  checkpointer::CheckpointReader reader;
  double last_timed_save;                       // monotonic: model_save_interval counts from it
  std::optional<CheckpointInfo> last_restored;  // what the last restore read

  CheckpointState restore(const SliceRequest& slices, const CheckpointState& into) {
    saver.settle();
    return reader.restore(slices, into, [this] { return writer.current_ledger(); },
                          last_restored);
  }
};

Checkpointer::Checkpointer(CheckpointerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  const CheckpointerOptions& checked = impl_->context.options;
  if (checked.serialization_dir.empty()) {
    throw InvalidArgumentError("serialization_dir must not be empty");
  }
  if (checked.model_save_interval && !(*checked.model_save_interval >= 0)) {
    throw InvalidArgumentError("model_save_interval must be a non-negative number of seconds");
  }
  checkpoint::validate_policy(checkpoint::policy_of(checked));
}

Checkpointer::~Checkpointer() {
  if (auto failure = impl_->saver.finish()) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      impl_->context.log(LogLevel::Warning,
                         std::string("an asynchronous save failed: ") + error.what());
    } catch (...) {
      impl_->context.log(LogLevel::Warning, "an asynchronous save failed with an unknown exception");
    }
  }
}

const CheckpointerOptions& Checkpointer::options() const noexcept { return impl_->context.options; }

bool Checkpointer::maybe_save_checkpoint(Trainer& trainer, int64_t epoch,
                                         int64_t batches_this_epoch) {
  // Called every batch: a background failure is reported at once, without waiting for a save
  // still running.
  impl_->saver.throw_if_failed();
  const checkpointer::Context& context = impl_->context;
  if (!context.options.model_save_interval) return false;
  const double elapsed_now = context.clock->monotonic_now();
  const bool due = elapsed_now - impl_->last_timed_save >= *context.options.model_save_interval;
  // Ranks' clocks differ: rank 0's decides for all (through the coordinator, which a save in
  // flight may be using: wait for it).
  if (context.ranks.size() > 1) impl_->saver.settle();
  if (!context.ranks.agree<bool>(due, "the timed-save decision")) return false;
  impl_->last_timed_save = elapsed_now;
  impl_->saver.start({.epoch = epoch,
                      .batches_this_epoch = batches_this_epoch,
                      .is_best_so_far = false,
                      .save_time = context.clock->now(),
                      .metrics = {}},
                     trainer);
  return true;
}

void Checkpointer::save_checkpoint_inside_epoch(Trainer& trainer, int64_t epoch,
                                               int64_t batches_this_epoch, bool is_best_so_far,
                                               const Metrics& metrics) {
  impl_->last_timed_save = impl_->context.clock->monotonic_now();
  impl_->saver.start({.epoch = epoch,
                      .batches_this_epoch = batches_this_epoch,
                      .is_best_so_far = is_best_so_far,
                      .save_time = impl_->context.clock->now(),
                      .metrics = metrics},
                     trainer);
}

void Checkpointer::save_checkpoint(int64_t epoch, Trainer& trainer, bool is_best_so_far,
                                   const Metrics& metrics) {
  impl_->saver.start({.epoch = epoch,
                      .batches_this_epoch = std::nullopt,
                      .is_best_so_far = is_best_so_far,
                      .save_time = impl_->context.clock->now(),
                      .metrics = metrics},
                     trainer);
}

std::optional<CheckpointPaths> Checkpointer::find_latest_checkpoint() const {
  impl_->saver.settle();
  return impl_->reader.find_latest();
}

CheckpointState Checkpointer::restore_checkpoint() { return impl_->restore({}, {}); }

CheckpointState Checkpointer::restore_checkpoint_into(const CheckpointState& into) {
  return impl_->restore({}, into);
}

CheckpointState Checkpointer::restore_shards(const SliceRequest& slices) {
  return impl_->restore(slices, {});
}

State Checkpointer::best_model_state() {
  impl_->saver.settle();
  return impl_->reader.best_model_state();
}

std::vector<RetentionDecision> Checkpointer::explain_retention() const {
  impl_->saver.settle();
  checkpoint::Ledger ledger = impl_->writer.current_ledger();
  return checkpoint::decide_retention(impl_->context.storage, impl_->context.dir(), ledger,
                                      checkpoint::policy_of(impl_->context.options),
                                      /*verify_data=*/false);
}

std::vector<CheckpointInfo> Checkpointer::list_checkpoints() const {
  impl_->saver.settle();
  return impl_->reader.list(impl_->writer.current_ledger());
}

std::optional<CheckpointInfo> Checkpointer::last_restored() const { return impl_->last_restored; }

void Checkpointer::wait() { impl_->saver.settle(); }

}  // namespace cairn
