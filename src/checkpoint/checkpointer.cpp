// The default Checkpointer. The save protocol (each step durable before the next):
// 1. take the directory lock (first save only), clean staging/, settle the ledger
// 2. ledger: record the new checkpoint as pending (so a crash never leaves a folder nobody owns)
// 3. write model and training state into staging/<name>.<pid>.<n>/, fsync each, write the
//    manifest, publish the folder into checkpoints/ with one rename
// 4. update best/ when asked
// 5. ledger: move the checkpoint into the queue, apply retention, write it
// 6. delete what retention doomed
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <optional>

#include "cairn/checkpointer.hpp"
#include "cairn/error.hpp"
#include "cairn/text.hpp"
#include "checkpoint/best_model.hpp"
#include "checkpoint/checkpoint_files.hpp"
#include "checkpoint/layout.hpp"
#include "checkpoint/ledger.hpp"
#include "checkpoint/pruning.hpp"
#include "checkpoint/retention.hpp"
#include "storage/atomic_file.hpp"
#include "storage/directory_lock.hpp"
#include "storage/folder_pin.hpp"
#include "storage/staging.hpp"

namespace cairn {

namespace fs = std::filesystem;
using checkpoint::CheckpointName;
using checkpoint::Ledger;
using checkpoint::OpenedCheckpoint;

namespace {

struct Candidate {
  CheckpointName name;
  std::string folder;
};

}  // namespace

struct Checkpointer::Impl {
  explicit Impl(CheckpointerOptions opts)
      : options(std::move(opts)),
        storage(options.storage != nullptr ? *options.storage : local_storage()),
        clock(options.clock != nullptr ? options.clock : system_clock()),
        logger(options.logger ? options.logger : stderr_logger()),
        staging(storage, options.serialization_dir),
        constructed_at(clock->now()),
        last_timed_save(constructed_at) {}

  CheckpointerOptions options;
  Storage& storage;
  std::shared_ptr<Clock> clock;
  Logger logger;
  storage::StagingArea staging;
  double constructed_at;
  double last_timed_save;
  std::unique_ptr<storage::DirectoryLock> lock;  // held from the first save on
  Ledger ledger;                                 // valid while `lock` is held

  fs::path checkpoints_dir() const { return options.serialization_dir / checkpoint::kCheckpointsDir; }

  void log(LogLevel level, const std::string& message) const noexcept {
    try {
      logger(level, message);
    } catch (...) {  // NOLINT(bugprone-empty-catch): a failing logger must not fail a save
    }
  }

  // Checkpoint folders by their names (whatever the ledger says), newest first. A missing
  // directory has none.
  std::vector<Candidate> scan() const {
    std::vector<Candidate> found;
    std::vector<DirEntry> entries;
    try {
      entries = storage.list(checkpoints_dir());
    } catch (const IoError& error) {
      if (error.error_code() == ENOENT) return found;
      throw;
    }
    for (const DirEntry& entry : entries) {
      if (!entry.is_directory) continue;
      if (auto name = checkpoint::parse_checkpoint_name(entry.name)) {
        found.push_back({*name, entry.name});
      }
    }
    std::sort(found.begin(), found.end(),
              [](const Candidate& a, const Candidate& b) { return a.name.seq > b.name.seq; });
    return found;
  }

  // Opens a checkpoint folder and checks that its manifest belongs to it.
  OpenedCheckpoint open_checkpoint(const Candidate& candidate) const {
    return checkpoint::open_published(storage, checkpoints_dir(), candidate.folder);
  }

  // Runs `use` on the newest checkpoint that opens and passes it; skips corrupt ones with a
  // warning. Returns false when none does. The folder is pinned while `use` runs, so a writer's
  // retention does not delete it meanwhile; one may delete it before we pin it (vanished, not
  // corrupt: no warning), then the directory is scanned again.
  template <typename Use>
  bool with_newest_valid(Use use) const {
    constexpr int kScans = 8;
    for (int scan_number = 0; scan_number < kScans; ++scan_number) {
      bool any_vanished = false;
      for (const Candidate& candidate : scan()) {
        try {
          const storage::FolderPin pin =
              storage::FolderPin::shared(checkpoints_dir() / candidate.folder);
          use(candidate, open_checkpoint(candidate));
          return true;
        } catch (const CorruptDataError& error) {
          if (!storage.exists(checkpoints_dir() / candidate.folder)) {
            any_vanished = true;
            continue;
          }
          log(LogLevel::Warning, "skipping checkpoint " + candidate.folder + ": " + error.what() +
                                     "; trying an older one");
        }
      }
      if (!any_vanished) break;
    }
    return false;
  }

  // The writer's ledger, or the directory's (empty when there is none).
  Ledger current_ledger() const {
    if (lock) return ledger;
    return checkpoint::read_ledger(storage, options.serialization_dir).value_or(Ledger{});
  }

  CheckpointPaths paths_of(const std::string& folder) const {
    const fs::path dir = checkpoints_dir() / folder;
    return {dir, dir / checkpoint::kModelFile, dir / checkpoint::kTrainingStateFile};
  }

  // Fails early, before anything is written, when the filesystem lacks room for the checkpoint.
  void check_free_space(const CheckpointState& state) const;
  void become_writer();
  void settle_ledger();
  // `save_time` is when the save was decided: a timed save's interval counts from it.
  void save(int64_t epoch, std::optional<int64_t> batches_this_epoch, Trainer& trainer,
            bool is_best_so_far, double save_time, const Metrics& metrics);
  // The finite values of `metrics` (the others are reported and left out). An end-of-epoch save
  // without the metric keep_best_k ranks by is reported too.
  Metrics recordable(const Metrics& metrics, int64_t epoch, bool end_of_epoch) const;
  void apply_retention(const std::string& newest);
  void delete_doomed();
};

namespace {

uint64_t tensor_bytes(const State& state) {
  switch (state.kind()) {
    case State::Kind::Tensor: return state.as_tensor().nbytes();
    case State::Kind::List: {
      uint64_t total = 0;
      for (const State& element : state.elements()) total += tensor_bytes(element);
      return total;
    }
    case State::Kind::Map: {
      uint64_t total = 0;
      for (const auto& [key, value] : state.items()) total += tensor_bytes(value);
      return total;
    }
    default: return 0;
  }
}

}  // namespace

void Checkpointer::Impl::check_free_space(const CheckpointState& state) const {
  // Tensor bytes plus a margin for headers, manifest and ledger (headers are small next to data).
  const uint64_t needed = tensor_bytes(state.model_state) + tensor_bytes(state.training_state) +
                          (1u << 20);
  const uint64_t available = storage.available_bytes(options.serialization_dir);
  if (needed > available) {
    throw IoError("save checkpoint in", options.serialization_dir, ENOSPC,
                  "needs about " + format_bytes(needed) + " but only " + format_bytes(available) +
                      " are free; nothing was written");
  }
}

void Checkpointer::Impl::become_writer() {
  storage.create_directories(checkpoints_dir());
  lock = std::make_unique<storage::DirectoryLock>(options.serialization_dir);
  try {
    for (const fs::path& leftover : staging.remove_leftovers()) {
      log(LogLevel::Info, "removed " + leftover.string() + ", left by a writer that crashed");
    }
    settle_ledger();
  } catch (...) {
    lock.reset();
    throw;
  }
}

// Loads the ledger (or starts one), adopts checkpoints published just before a crash, finishes
// deletions a crash interrupted, and makes sure sequence numbers are never reused.
void Checkpointer::Impl::settle_ledger() {
  std::optional<Ledger> stored;
  try {
    stored = checkpoint::read_ledger(storage, options.serialization_dir);
  } catch (const CorruptDataError& error) {
    log(LogLevel::Warning, std::string(error.what()) +
                               "; rebuilding it from the checkpoints whose manifests verify");
    stored = Ledger{};
    stored->reference_time = constructed_at;
    const std::vector<Candidate> on_disk = scan();  // newest first
    for (auto it = on_disk.rbegin(); it != on_disk.rend(); ++it) {
      try {
        auto opened = open_checkpoint(*it);
        stored->queue.push_back({it->folder, opened.manifest().save_time, opened.manifest().metrics});
      } catch (const CorruptDataError&) {  // NOLINT(bugprone-empty-catch): not provably ours
      }
    }
  }
  if (stored) {
    ledger = *stored;
  } else {
    ledger = Ledger{};
    ledger.reference_time = constructed_at;
  }
  ledger.policy = checkpoint::policy_of(options);
  std::optional<std::string> adopted;
  for (const auto& entry : ledger.pending) {
    if (storage.exists(checkpoints_dir() / entry.name)) {
      ledger.queue.push_back(entry);
      adopted = entry.name;
      log(LogLevel::Info, "adopted " + entry.name + ", published just before a crash");
    }
  }
  ledger.pending.clear();
  // The crash came before that save's retention ran: run it now, or the folders on disk would
  // grow by one for every save a crash interrupts after its publish.
  if (adopted) {
    apply_retention(*adopted);
  } else {
    delete_doomed();
  }
  try {
    checkpoint::remove_unreachable_best_versions(storage, staging, options.serialization_dir);
  } catch (const CorruptDataError& error) {
    log(LogLevel::Warning, std::string(error.what()) + "; leaving best-versions/ as it is");
  }
  // Never reuse a number any entry carries, file or folder, ours or not.
  for (const DirEntry& entry : storage.list(checkpoints_dir())) {
    if (auto name = checkpoint::parse_checkpoint_name(entry.name)) {
      ledger.next_seq = std::max(ledger.next_seq, name->seq + 1);
    }
  }
  checkpoint::write_ledger(storage, options.serialization_dir, ledger);
}

Metrics Checkpointer::Impl::recordable(const Metrics& metrics, int64_t epoch,
                                       bool end_of_epoch) const {
  Metrics finite;
  for (const auto& [name, value] : metrics) {
    if (std::isfinite(value)) {
      finite[name] = value;
    } else {
      log(LogLevel::Warning, "metric " + name + " of epoch " + std::to_string(epoch) + " is " +
                                 std::to_string(value) + "; not recorded, never counts as best");
    }
  }
  const auto policy = checkpoint::policy_of(options);
  if (end_of_epoch && policy.best_k_on() && !metrics.contains(policy.metric)) {
    std::string given;
    for (const auto& [name, value] : metrics) given += (given.empty() ? "" : ", ") + name;
    log(LogLevel::Warning, "the save of epoch " + std::to_string(epoch) + " has no value for " +
                               policy.metric + " (keep_best_k ranks by it; given: " +
                               (given.empty() ? std::string("none") : given) +
                               "); it never counts as best");
  }
  return finite;
}

void Checkpointer::Impl::save(int64_t epoch, std::optional<int64_t> batches_this_epoch,
                              Trainer& trainer, bool is_best_so_far, double save_time,
                              const Metrics& metrics) {
  if (epoch < 0) throw InvalidArgumentError("epoch must not be negative");
  if (batches_this_epoch && *batches_this_epoch < 0) {
    throw InvalidArgumentError("batches_this_epoch must not be negative");
  }
  if (!lock) become_writer();
  CheckpointState state = trainer.get_checkpoint_state();
  if (state.training_state.is_null()) state.training_state = State::map();
  if (!state.training_state.is_map()) {
    throw InvalidArgumentError("the trainer's training state must be a map, not a " +
                               std::string(kind_name(state.training_state.kind())));
  }
  state.training_state["epoch"] = epoch;
  if (batches_this_epoch) {
    state.training_state["batches_this_epoch"] = *batches_this_epoch;
  } else {
    state.training_state.erase("batches_this_epoch");
  }

  check_free_space(state);
  const Metrics recorded = recordable(metrics, epoch, !batches_this_epoch);
  const double started = clock->now();
  const CheckpointName name{ledger.next_seq, epoch, batches_this_epoch};
  const std::string folder_name = checkpoint::format_checkpoint_name(name);
  const fs::path destination = checkpoints_dir() / folder_name;

  // 2. Intent first: whatever happens next, the ledger knows this name is ours.
  ledger.next_seq += 1;
  ledger.pending.push_back({folder_name, save_time, recorded});
  checkpoint::write_ledger(storage, options.serialization_dir, ledger);

  // 3. Write and publish.
  checkpoint::Manifest manifest;
  try {
    auto staged = staging.begin(folder_name);
    manifest.seq = name.seq;
    manifest.epoch = epoch;
    manifest.batches_this_epoch = batches_this_epoch;
    manifest.save_time = save_time;
    manifest.is_best = is_best_so_far;
    manifest.metrics = recorded;
    manifest = checkpoint::write_checkpoint_files(staged, manifest, state.model_state,
                                                  &state.training_state);
    staged.publish(destination);
  } catch (...) {
    // The rename may have happened before the failure (a failed fsync of checkpoints/): then
    // the folder is ours and stays in the ledger. When unsure, it stays pending.
    storage::cleanup_quietly([&] {
      const bool published = storage.exists(destination);
      checkpoint::LedgerEntry entry = ledger.pending.back();
      ledger.pending.pop_back();
      if (published) ledger.queue.push_back(entry);
      checkpoint::write_ledger(storage, options.serialization_dir, ledger);
    });
    throw;
  }
  ledger.pending.pop_back();
  ledger.queue.push_back({folder_name, save_time, recorded});
  uint64_t bytes = 0;
  for (const auto& file : manifest.files) bytes += file.size;
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.3f s", clock->now() - started);
  log(LogLevel::Info, "saved " + destination.string() + " (epoch " + std::to_string(epoch) +
                          (batches_this_epoch ? ", batch " + std::to_string(*batches_this_epoch)
                                              : std::string(", end of epoch")) +
                          ", " + format_bytes(bytes) + ") in " + seconds);

  // 4. Best.
  if (is_best_so_far) {
    checkpoint::publish_best(storage, staging, options.serialization_dir, destination, manifest);
    ledger.best = folder_name;
    log(LogLevel::Info, "best model is now " + folder_name);
  }

  // 5 and 6.
  apply_retention(folder_name);
}

void Checkpointer::Impl::apply_retention(const std::string& newest) {
  const auto outcome = checkpoint::apply_retention(ledger, checkpoint::policy_of(options), newest);
  checkpoint::write_ledger(storage, options.serialization_dir, ledger);
  for (const auto& decision : outcome.decisions) {
    if (std::find(outcome.changed.begin(), outcome.changed.end(), decision.name) !=
        outcome.changed.end()) {
      log(LogLevel::Info, decision.name + " " + decision.reason);
    }
  }
  delete_doomed();
}

// Every doomed checkpoint, also one whose deletion failed or waited at an earlier save.
void Checkpointer::Impl::delete_doomed() {
  for (const std::string& name :
       checkpoint::delete_doomed(storage, staging, options.serialization_dir, ledger)) {
    log(LogLevel::Info, "not deleting " + name +
                            " yet: a reader is restoring from it; the next save tries again");
  }
}

Checkpointer::Checkpointer(CheckpointerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  if (impl_->options.serialization_dir.empty()) {
    throw InvalidArgumentError("serialization_dir must not be empty");
  }
  if (impl_->options.model_save_interval && !(*impl_->options.model_save_interval >= 0)) {
    throw InvalidArgumentError("model_save_interval must be a non-negative number of seconds");
  }
  checkpoint::validate_policy(checkpoint::policy_of(impl_->options));
}

Checkpointer::~Checkpointer() = default;

const CheckpointerOptions& Checkpointer::options() const noexcept { return impl_->options; }

bool Checkpointer::maybe_save_checkpoint(Trainer& trainer, int64_t epoch,
                                         int64_t batches_this_epoch) {
  if (!impl_->options.model_save_interval) return false;
  const double now = impl_->clock->now();
  if (now - impl_->last_timed_save < *impl_->options.model_save_interval) return false;
  impl_->last_timed_save = now;
  impl_->save(epoch, batches_this_epoch, trainer, false, now, {});
  return true;
}

void Checkpointer::save_checkpoint_inside_epoch(Trainer& trainer, int64_t epoch,
                                               int64_t batches_this_epoch) {
  const double now = impl_->clock->now();
  impl_->last_timed_save = now;
  impl_->save(epoch, batches_this_epoch, trainer, false, now, {});
}

void Checkpointer::save_checkpoint(int64_t epoch, Trainer& trainer, bool is_best_so_far,
                                   const Metrics& metrics) {
  impl_->save(epoch, std::nullopt, trainer, is_best_so_far, impl_->clock->now(), metrics);
}

std::optional<CheckpointPaths> Checkpointer::find_latest_checkpoint() const {
  std::optional<CheckpointPaths> latest;
  impl_->with_newest_valid([&](const Candidate& candidate, const OpenedCheckpoint& opened) {
    opened.verify();
    latest = impl_->paths_of(candidate.folder);
  });
  return latest;
}

CheckpointState Checkpointer::restore_checkpoint() {
  CheckpointState restored;
  impl_->with_newest_valid([&](const Candidate& candidate, const OpenedCheckpoint& opened) {
    restored = opened.load();
    impl_->log(LogLevel::Info, "restored " + (impl_->checkpoints_dir() / candidate.folder).string());
  });
  return restored;
}

State Checkpointer::best_model_state() {
  // A writer may swing `best` between our reading the link and opening the folder: retry.
  for (int attempt = 0;; ++attempt) {
    auto folder = checkpoint::best_folder(impl_->storage, impl_->options.serialization_dir);
    if (!folder) return State();
    try {
      return OpenedCheckpoint::open(impl_->storage, *folder, /*require_training_state=*/false)
          .load()
          .model_state;
    } catch (const CorruptDataError&) {
      if (attempt == 2) throw;
    }
  }
}

std::vector<RetentionDecision> Checkpointer::explain_retention() const {
  Ledger ledger = impl_->current_ledger();
  return checkpoint::decide_retention(impl_->storage, impl_->options.serialization_dir, ledger,
                                      checkpoint::policy_of(impl_->options), /*verify_data=*/false);
}

std::vector<CheckpointInfo> Checkpointer::list_checkpoints() const {
  const Ledger ledger = impl_->current_ledger();
  std::vector<CheckpointInfo> infos;
  auto add = [&](const checkpoint::LedgerEntry& entry, bool permanent) {
    auto name = checkpoint::parse_checkpoint_name(entry.name);
    if (!name) return;
    try {
      auto opened = impl_->open_checkpoint({*name, entry.name});
      CheckpointInfo info;
      info.name = entry.name;
      info.paths = impl_->paths_of(entry.name);
      info.seq = name->seq;
      info.epoch = name->epoch;
      info.batches_this_epoch = name->batches_this_epoch;
      info.save_time = opened.manifest().save_time;
      info.metrics = opened.manifest().metrics;
      for (const auto& file : opened.manifest().files) info.size_bytes += file.size;
      info.is_best = ledger.best == entry.name;
      info.permanent = permanent;
      infos.push_back(std::move(info));
    } catch (const CorruptDataError& error) {
      impl_->log(LogLevel::Warning, std::string("not listing ") + entry.name + ": " + error.what());
    }
  };
  for (const auto& entry : ledger.permanent) add(entry, true);
  for (const auto& entry : ledger.retained) add(entry, false);
  for (const auto& entry : ledger.queue) add(entry, false);
  std::sort(infos.begin(), infos.end(),
            [](const CheckpointInfo& a, const CheckpointInfo& b) { return a.seq < b.seq; });
  return infos;
}

void Checkpointer::wait() {}

}  // namespace cairn
