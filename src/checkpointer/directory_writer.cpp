#include "checkpointer/directory_writer.hpp"

#include <algorithm>
#include <cstdio>

#include "cairn/error.hpp"
#include "cairn/text.hpp"
#include "checkpoint/best_model.hpp"
#include "checkpoint/checkpoint_files.hpp"
#include "checkpoint/layout.hpp"
#include "checkpoint/shard_layouts.hpp"
#include "checkpoint/shard_pieces.hpp"
#include "checkpointer/candidates.hpp"
#include "retention/disk_retention.hpp"
#include "retention/ledger_file.hpp"
#include "retention/ledger_segments.hpp"
#include "retention/policy.hpp"
#include "retention/retention_rules.hpp"
#include "storage/atomic_file.hpp"

namespace cairn::checkpointer {

namespace fs = std::filesystem;
using checkpoint::Ledger;

DirectoryWriter::DirectoryWriter(const Context& context, double constructed_at)
    : context_(context),
      constructed_at_(constructed_at),
      staging_(context.storage, context.dir()) {}

void DirectoryWriter::become_writer() {
  if (lock_) return;
  context_.storage.create_directories(context_.checkpoints_dir());
  lock_ = std::make_unique<storage::DirectoryLock>(context_.storage, context_.dir());
  try {
    for (const auto& leftover : staging_.remove_leftovers()) {
      if (leftover.refusal.empty()) {
        context_.log(LogLevel::Info,
                     "removed " + leftover.path.string() + ", left by a writer that crashed");
      } else {
        context_.log(LogLevel::Warning,
                     "leaving " + leftover.path.string() + " alone: " + leftover.refusal);
      }
    }
    settle_ledger();
  } catch (...) {
    lock_.reset();
    throw;
  }
}

Ledger DirectoryWriter::current_ledger() const {
  if (lock_) return ledger_;
  return checkpoint::read_ledger(context_.storage, context_.dir()).value_or(Ledger{});
}

void DirectoryWriter::settle_ledger() {
  std::optional<Ledger> stored;
  try {
    stored = checkpoint::read_ledger(context_.storage, context_.dir());
  } catch (const CorruptDataError& error) {
    context_.log(LogLevel::Warning, std::string(error.what()) +
                                        "; rebuilding it from the checkpoints whose manifests verify");
    stored = rebuilt_ledger();
  }
  if (stored) {
    ledger_ = *stored;
  } else {
    ledger_ = Ledger{};
    ledger_.reference_time = constructed_at_;
  }
  ledger_.policy = checkpoint::policy_of(context_.options);
  std::optional<std::string> adopted;
  for (const auto& entry : ledger_.pending) {
    if (context_.storage.exists(context_.checkpoints_dir() / entry.name)) {
      // In save order (a pending name is the newest but for a hand-edited ledger).
      const auto seq = [](const checkpoint::LedgerEntry& e) {
        return checkpoint::parse_checkpoint_name(e.name)->seq;
      };
      ledger_.queue.insert(
          std::upper_bound(ledger_.queue.begin(), ledger_.queue.end(), entry,
                           [&](const auto& a, const auto& b) { return seq(a) < seq(b); }),
          entry);
      adopted = entry.name;
      context_.log(LogLevel::Info, "adopted " + entry.name + ", published just before a crash");
    }
  }
  ledger_.pending.clear();
  // The crash came before that save's retention ran: run it now, or the folders on disk would
  // grow by one for every save a crash interrupts after its publish.
  if (adopted) {
    apply_retention(*adopted);
  } else {
    delete_doomed();
  }
  try {
    checkpoint::remove_unreachable_best_versions(context_.storage, staging_, context_.dir());
  } catch (const CorruptDataError& error) {
    context_.log(LogLevel::Warning, std::string(error.what()) + "; leaving best-versions/ as it is");
  } catch (const InvalidArgumentError& error) {
    context_.log(LogLevel::Warning, error.what());
  }
  // Never reuse a number any entry carries, file or folder, ours or not.
  for (const DirEntry& entry : context_.storage.list(context_.checkpoints_dir())) {
    if (auto name = checkpoint::parse_checkpoint_name(entry.name)) {
      ledger_.next_seq = std::max(ledger_.next_seq, name->seq + 1);
    }
  }
  clamp_future_times();
  store_ledger();
  try {
    checkpoint::remove_stray_segments(context_.storage, context_.dir(), ledger_);
  } catch (const Error& error) {
    context_.log(LogLevel::Warning,
                 std::string("leaving retention-segments/ as it is: ") + error.what());
  }
}

// A damaged ledger no longer says which checkpoints were kept for good, and guessing wrong would
// delete them: the newest N (the last-N window) are queued, every older one that verifies is
// kept for good (cairn prune, or a person, can still remove them), and the K-seconds rule counts
// from the newest of those.
Ledger DirectoryWriter::rebuilt_ledger() const {
  Ledger rebuilt;
  rebuilt.reference_time = constructed_at_;
  std::vector<checkpoint::LedgerEntry> found;  // oldest first
  const std::vector<Candidate> on_disk =
      scan_checkpoints(context_.storage, context_.checkpoints_dir());  // newest first
  for (auto it = on_disk.rbegin(); it != on_disk.rend(); ++it) {
    try {
      auto opened = checkpoint::open_published(context_.storage, context_.checkpoints_dir(), it->folder);
      found.push_back({it->folder, opened.manifest().save_time, opened.manifest().metrics});
    } catch (const CorruptDataError&) {  // NOLINT(bugprone-empty-catch): not provably ours
    }
  }
  const auto policy = checkpoint::policy_of(context_.options);
  const bool limited = policy.keep_last && *policy.keep_last >= 0;
  const size_t window = limited ? static_cast<size_t>(std::max(*policy.keep_last, 1)) : found.size();
  const size_t older = found.size() - std::min(window, found.size());
  rebuilt.permanent.assign(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(older));
  rebuilt.queue.assign(found.begin() + static_cast<std::ptrdiff_t>(older), found.end());
  if (!rebuilt.permanent.empty()) {
    rebuilt.reference_time = std::min(constructed_at_, rebuilt.permanent.back().save_time);
    context_.log(LogLevel::Warning, std::to_string(older) + " older checkpoint(s) are kept for " +
                                        "good: the damaged ledger no longer says which of them were");
  }
  return rebuilt;
}

// A wall clock that was set ahead leaves save times in the future; kept, they would make the
// K-seconds rule keep nothing for good until that time comes (across restarts, as the ledger
// keeps them). They are brought back to now.
void DirectoryWriter::clamp_future_times() {
  const size_t clamped = ledger_.clamp_future_times(context_.clock->now());
  if (clamped > 0) {
    context_.log(LogLevel::Warning,
                 std::to_string(clamped) + " time(s) in " +
                     (context_.dir() / checkpoint::kLedgerFile).string() +
                     " lie in the future (the clock was set back since); using now");
  }
}

void DirectoryWriter::store_ledger() {
  lock_->check_held();
  checkpoint::write_ledger(context_.storage, context_.dir(), ledger_);
}

Reservation DirectoryWriter::reserve(int64_t epoch, std::optional<int64_t> batches_this_epoch,
                                     double save_time, Metrics recorded) {
  if (ledger_.next_seq > checkpoint::kMaxSeq) {
    throw InvalidArgumentError("cannot save into " + context_.dir().string() +
                                   ": its sequence numbers are used up (the next would be " +
                                   std::to_string(ledger_.next_seq) + ", past " +
                                   std::to_string(checkpoint::kMaxSeq) + ")",
                               context_.dir());
  }
  Reservation reservation;
  reservation.recorded = std::move(recorded);
  reservation.started = context_.clock->now();
  reservation.name = checkpoint::CheckpointName{ledger_.next_seq, epoch, batches_this_epoch};
  reservation.folder_name = checkpoint::format_checkpoint_name(reservation.name);
  reservation.save_time = save_time;
  // Intent first: whatever happens next, the ledger knows this name is ours.
  ledger_.next_seq += 1;
  ledger_.pending.push_back({reservation.folder_name, save_time, reservation.recorded});
  store_ledger();
  return reservation;
}

storage::StagedFolder DirectoryWriter::begin_staging(const Reservation& reservation) {
  return staging_.begin(reservation.folder_name);
}

void DirectoryWriter::commit(Reservation& reservation, storage::StagedFolder& staged,
                             const std::vector<WrittenFiles>& written, bool is_best_so_far) {
  checkpoint::Manifest manifest;
  manifest.seq = reservation.name.seq;
  manifest.epoch = reservation.name.epoch;
  manifest.batches_this_epoch = reservation.name.batches_this_epoch;
  manifest.save_time = reservation.save_time;
  manifest.is_best = is_best_so_far;
  manifest.metrics = reservation.recorded;
  std::vector<std::vector<checkpoint::ShardedTensorLayout>> layouts;
  for (const WrittenFiles& part : written) {
    manifest.files.insert(manifest.files.end(), part.files.begin(), part.files.end());
    layouts.push_back(part.sharded);
  }
  manifest.sharded = checkpoint::merge_layouts(layouts);
  if (auto problem = checkpoint::layout_problem(manifest.sharded)) {
    throw InvalidArgumentError("cannot commit " + reservation.folder_name + ": " + *problem);
  }
  checkpoint::write_manifest_file(context_.storage, staged.path(), manifest);
  const fs::path destination = context_.checkpoints_dir() / reservation.folder_name;
  lock_->check_held();
  staged.publish(destination);
  reservation.published = true;
  ledger_.pending.pop_back();
  ledger_.queue.push_back({reservation.folder_name, reservation.save_time, reservation.recorded});
  uint64_t bytes = 0;
  for (const auto& file : manifest.files) bytes += file.size;
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.3f s", context_.clock->now() - reservation.started);
  const auto& batches = reservation.name.batches_this_epoch;
  context_.log(LogLevel::Info, "saved " + destination.string() + " (epoch " +
                                   std::to_string(reservation.name.epoch) +
                                   (batches ? ", batch " + std::to_string(*batches)
                                            : std::string(", end of epoch")) +
                                   ", " + format_bytes(bytes) + ") in " + seconds);
  if (is_best_so_far) {
    update_best(reservation.folder_name, manifest);
  } else {
    repair_best();
  }
  apply_retention(reservation.folder_name);
}

void DirectoryWriter::update_best(const std::string& name, const checkpoint::Manifest& manifest) {
  try {
    checkpoint::publish_best(context_.storage, staging_, context_.dir(),
                             context_.checkpoints_dir() / name, manifest);
  } catch (const LockLostError&) {
    throw;
  } catch (const Error& error) {
    ledger_.best_pending = name;
    context_.log(LogLevel::Warning,
                 name + " is committed and restorable, but best/ was not updated (" +
                     error.what() + "); best/ still holds " + ledger_.best.value_or("nothing") +
                     ", and the next save tries again");
    return;
  }
  ledger_.best = name;
  ledger_.best_pending.reset();
  context_.log(LogLevel::Info, "best model is now " + name);
}

void DirectoryWriter::repair_best() {
  if (!ledger_.best_pending) return;
  const std::string name = *ledger_.best_pending;
  std::optional<checkpoint::Manifest> manifest;
  try {
    manifest = checkpoint::open_published(context_.storage, context_.checkpoints_dir(), name).manifest();
  } catch (const CorruptDataError& error) {
    ledger_.best_pending.reset();
    context_.log(LogLevel::Warning,
                 "best/ cannot be made from " + name + " any more: " + error.what());
    return;
  }
  update_best(name, *manifest);
}

void DirectoryWriter::abandon(const Reservation& reservation) noexcept {
  if (reservation.published) return;  // the ledger has it already
  storage::cleanup_quietly([&] {
    const bool published =
        context_.storage.exists(context_.checkpoints_dir() / reservation.folder_name);
    checkpoint::LedgerEntry entry = ledger_.pending.back();
    ledger_.pending.pop_back();
    if (published) ledger_.queue.push_back(entry);
    store_ledger();
  });
}

void DirectoryWriter::apply_retention(const std::string& newest) {
  clamp_future_times();
  const auto outcome = checkpoint::apply_retention(
      ledger_, checkpoint::policy_of(context_.options), newest, checkpoint::Explain::Changes);
  store_ledger();
  for (const auto& decision : outcome.decisions) {
    if (std::find(outcome.changed.begin(), outcome.changed.end(), decision.name) !=
        outcome.changed.end()) {
      context_.log(LogLevel::Info, decision.name + " " + decision.reason);
    }
  }
  delete_doomed();
}

// Every doomed checkpoint, also one whose deletion failed or waited at an earlier save.
void DirectoryWriter::delete_doomed() {
  lock_->check_held();
  for (const std::string& name :
       checkpoint::delete_doomed(context_.storage, staging_, context_.dir(), ledger_)) {
    context_.log(LogLevel::Info, "not deleting " + name +
                                     " yet: a reader is restoring from it; the next save tries again");
  }
}

}  // namespace cairn::checkpointer
