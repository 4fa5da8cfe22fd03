// The default Checkpointer. The save protocol (each step durable before the next; with several
// ranks, rank 0 does the steps without a rank named, and every rank learns each step's outcome
// before the next, so all succeed or all fail):
// 1. take the directory lock (first save only), clean staging/, settle the ledger
// 2. ledger: record the new checkpoint as pending (so a crash never leaves a folder nobody owns)
// 3. every rank: write its files into staging/<name>.<pid>.<n>/ (rank 0 the model and training
//    state, each rank its shards), fsync each
// 4. write the manifest (with every rank's files and the shard layout), publish the folder into
//    checkpoints/ with one rename
// 5. update best/ when asked
// 6. ledger: move the checkpoint into the queue, apply retention, write it
// 7. delete what retention doomed
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>

#include "cairn/checkpointer.hpp"
#include "cairn/error.hpp"
#include "cairn/text.hpp"
#include "checkpoint/background_save.hpp"
#include "checkpoint/best_model.hpp"
#include "checkpoint/checkpoint_files.hpp"
#include "checkpoint/layout.hpp"
#include "checkpoint/ledger.hpp"
#include "checkpoint/ledger_segments.hpp"
#include "checkpoint/pruning.hpp"
#include "checkpoint/retention.hpp"
#include "checkpoint/shards.hpp"
#include "checkpoint/staging_memory.hpp"
#include "core/forced_unwind.hpp"
#include "core/state_walk.hpp"
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

// Hands the save protocol (which asks once) a state taken, and staged, earlier, or the error
// taking it raised.
class TakenState final : public Trainer {
 public:
  TakenState(CheckpointState state, std::exception_ptr failure)
      : state_(std::move(state)), failure_(std::move(failure)) {}
  CheckpointState get_checkpoint_state() override {
    if (failure_) std::rethrow_exception(failure_);
    return std::move(state_);
  }

 private:
  CheckpointState state_;
  std::exception_ptr failure_;
};

// Rank 0's report at the start of a save: the staging folder, then rank 0's sharded paths. The
// folder's path is length-prefixed, as it may hold any byte, a newline too.
std::string start_report(const std::string& staging_path, const std::string& paths) {
  return std::to_string(staging_path.size()) + ':' + staging_path + paths;
}

std::pair<std::string, std::string> split_start_report(const std::string& report) {
  const size_t colon = report.find(':');
  const size_t size = std::stoull(report.substr(0, colon));
  return {report.substr(colon + 1, size), report.substr(colon + 1 + size)};
}

}  // namespace

struct Checkpointer::Impl {
  explicit Impl(CheckpointerOptions opts)
      : options(std::move(opts)),
        storage(options.storage != nullptr ? *options.storage : local_storage()),
        clock(options.clock != nullptr ? options.clock : system_clock()),
        logger(options.logger ? options.logger : stderr_logger()),
        ranks(options.coordinator != nullptr ? *options.coordinator
                                             : single_process_coordinator()),
        staging(storage, options.serialization_dir),
        staging_memory(options.serialization_dir, options.async_staging_bytes),
        constructed_at(clock->now()),
        last_timed_save(clock->monotonic_now()) {}

  CheckpointerOptions options;
  Storage& storage;
  std::shared_ptr<Clock> clock;
  Logger logger;
  Coordinator& ranks;
  storage::StagingArea staging;
  checkpoint::StagingMemory staging_memory;  // async saves: the copy being written
  double constructed_at;   // wall clock: the first reference_time of a new ledger
  double last_timed_save;  // monotonic clock: model_save_interval counts from it
  std::unique_ptr<storage::DirectoryLock> lock;  // held from the first save on
  Ledger ledger;                                 // valid while `lock` is held
  // The asynchronous save in flight. While it runs, it alone uses the members above; the
  // caller's thread waits for it (settle_background) before any other use.
  checkpoint::BackgroundSave background;

  // Waits for the save in flight, if any, and throws its failure.
  void settle_background() {
    if (auto failure = background.finish()) std::rethrow_exception(failure);
  }
  // A save, synchronous or (options.async_save) started in the background.
  void start_save(int64_t epoch, std::optional<int64_t> batches_this_epoch, Trainer& trainer,
                  bool is_best_so_far, double save_time, const Metrics& metrics);

  fs::path checkpoints_dir() const { return options.serialization_dir / checkpoint::kCheckpointsDir; }

  // Not noexcept: a forced unwind (core/forced_unwind.hpp) must pass.
  void log(LogLevel level, const std::string& message) const {
    try {
      logger(level, message);
    }
    CAIRN_RETHROW_FORCED_UNWIND
    catch (...) {  // NOLINT(bugprone-empty-catch): a failing logger must not fail a save
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

  // Runs `use` on the newest checkpoint that opens and passes it (on every rank); skips corrupt
  // ones with a warning. Returns false when none does. The folder is pinned while `use` runs, so
  // a writer's retention does not delete it meanwhile; one may delete it before we pin it
  // (vanished, not corrupt: no warning), then the directory is scanned again. Rank 0 picks each
  // candidate; one that fails on any rank is skipped by all.
  template <typename Use>
  bool with_newest_valid(Use use) const {
    constexpr int kScans = 8;
    constexpr const char* kVanished = "\x01vanished";
    for (int scan_number = 0; scan_number < kScans; ++scan_number) {
      bool any_vanished = false;
      const std::vector<Candidate> candidates = ranks.rank() == 0 ? scan() : std::vector<Candidate>{};
      for (size_t i = 0;; ++i) {
        const std::string folder = agree(i < candidates.size() ? candidates[i].folder : "",
                                         "choosing the checkpoint to read");
        if (folder.empty()) break;
        const std::vector<std::string> verdicts =
            on_every_rank("reading checkpoint " + folder, [&]() -> std::string {
              const auto name = checkpoint::parse_checkpoint_name(folder);
              if (!name) throw CorruptDataError(checkpoints_dir() / folder, "not a checkpoint name");
              try {
                const storage::FolderPin pin = storage::FolderPin::shared(storage, checkpoints_dir() / folder);
                use(Candidate{*name, folder}, open_checkpoint({*name, folder}));
                return "";
              } catch (const CorruptDataError& error) {
                if (!storage.exists(checkpoints_dir() / folder)) return kVanished;
                return error.what();
              }
            });
        std::string problems;
        bool vanished = false;
        for (size_t rank = 0; rank < verdicts.size(); ++rank) {
          if (verdicts[rank] == kVanished) {
            vanished = true;
          } else if (!verdicts[rank].empty()) {
            problems += (problems.empty() ? "" : "; ") +
                        (ranks.size() > 1 ? "rank " + std::to_string(rank) + ": " : std::string()) +
                        verdicts[rank];
          }
        }
        if (problems.empty() && !vanished) return true;
        if (!problems.empty()) {
          log(LogLevel::Warning, "skipping checkpoint " + folder + ": " + problems +
                                     "; trying an older one");
        } else {
          any_vanished = true;
        }
      }
      if (agree(any_vanished ? "rescan" : "", "rescanning checkpoints").empty()) break;
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

  // What a checkpoint's name, manifest and the ledger tell of it.
  CheckpointInfo info_of(const Candidate& candidate, const OpenedCheckpoint& opened,
                         const Ledger& recorded, bool permanent) const {
    CheckpointInfo info;
    info.name = candidate.folder;
    info.paths = paths_of(candidate.folder);
    info.seq = candidate.name.seq;
    info.epoch = candidate.name.epoch;
    info.batches_this_epoch = candidate.name.batches_this_epoch;
    info.save_time = opened.manifest().save_time;
    info.metrics = opened.manifest().metrics;
    for (const auto& file : opened.manifest().files) {
      info.size_bytes += file.size;
      if (file.name.starts_with(checkpoint::kShardFilePrefix)) ++info.shard_files;
    }
    info.is_best = recorded.best == candidate.folder;
    info.permanent = permanent;
    return info;
  }

  // Fails early, before anything is written, when the filesystem lacks room for the checkpoint.
  void check_free_space(uint64_t tensor_bytes) const;
  void become_writer();
  void settle_ledger();
  Ledger rebuilt_ledger() const;
  // Runs `step` on this rank, then shares every rank's outcome: returns each rank's text when
  // all succeeded; otherwise rethrows this rank's own error, or throws RankError naming the
  // ranks that failed and why. `what` names the step in errors.
  std::vector<std::string> on_every_rank(std::string_view what,
                                         const std::function<std::string()>& step) const;
  // Rank 0's text, on every rank.
  std::string agree(const std::string& leaders, std::string_view what) const {
    return ranks.all_gather(ranks.rank() == 0 ? leaders : std::string(), what)[0];
  }

  // `save_time` is when the save was decided (wall clock), recorded in the manifest and ledger.
  void save(int64_t epoch, std::optional<int64_t> batches_this_epoch, Trainer& trainer,
            bool is_best_so_far, double save_time, const Metrics& metrics);
  // A save rank 0 has recorded as pending in the ledger.
  struct PendingSave {
    CheckpointName name;
    std::string folder_name;
    double save_time = 0;
    double started = 0;
    Metrics recorded;
    bool published = false;
  };
  PendingSave reserve(int64_t epoch, std::optional<int64_t> batches_this_epoch, double save_time,
                      const Metrics& metrics);
  // Steps 4 to 7 on rank 0; `written` holds each rank's files and layout.
  void commit(PendingSave& pending, storage::StagedFolder& staged,
              const std::vector<std::string>& written, bool is_best_so_far);
  void abandon(const PendingSave& pending) noexcept;
  // The finite values of `metrics` (the others are reported and left out). An end-of-epoch save
  // without the metric keep_best_k ranks by is reported too.
  Metrics recordable(const Metrics& metrics, int64_t epoch, bool end_of_epoch) const;
  void apply_retention(const std::string& newest);
  void delete_doomed();
  // Writes the ledger, after checking that this writer still holds the directory.
  void store_ledger();
  void clamp_future_times();
  // Makes `name` (published, with `manifest`) the best model; on failure the checkpoint stays
  // committed, the ledger remembers the wish (best_pending) and the next save tries again.
  void update_best(const std::string& name, const checkpoint::Manifest& manifest);
  // The next save's attempt at a best model an earlier one could not make.
  void repair_best();
  CheckpointState restore(const SliceRequest& slices, const CheckpointState& into);
  std::optional<CheckpointInfo> last_restored;  // what the last restore read
};

namespace {

uint64_t tensor_bytes(const State& state) {
  return core::sum_over_tensors(state, [](const Tensor& tensor) { return tensor.nbytes(); });
}

}  // namespace

void Checkpointer::Impl::check_free_space(uint64_t tensor_bytes) const {
  // Tensor bytes plus a margin for headers, manifest and ledger (headers are small next to data).
  const uint64_t needed = tensor_bytes + (1u << 20);
  const uint64_t available = storage.available_bytes(options.serialization_dir);
  if (needed > available) {
    throw IoError("save checkpoint in", options.serialization_dir, ENOSPC,
                  "needs about " + format_bytes(needed) + " but only " + format_bytes(available) +
                      " are free; nothing was written");
  }
}

void Checkpointer::Impl::become_writer() {
  storage.create_directories(checkpoints_dir());
  lock = std::make_unique<storage::DirectoryLock>(storage, options.serialization_dir);
  try {
    for (const auto& leftover : staging.remove_leftovers()) {
      if (leftover.refusal.empty()) {
        log(LogLevel::Info, "removed " + leftover.path.string() + ", left by a writer that crashed");
      } else {
        log(LogLevel::Warning, "leaving " + leftover.path.string() + " alone: " + leftover.refusal);
      }
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
    stored = rebuilt_ledger();
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
      // In save order (a pending name is the newest but for a hand-edited ledger).
      const auto seq = [](const checkpoint::LedgerEntry& e) {
        return checkpoint::parse_checkpoint_name(e.name)->seq;
      };
      ledger.queue.insert(std::upper_bound(ledger.queue.begin(), ledger.queue.end(), entry,
                                           [&](const auto& a, const auto& b) { return seq(a) < seq(b); }),
                          entry);
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
  } catch (const InvalidArgumentError& error) {
    log(LogLevel::Warning, error.what());
  }
  // Never reuse a number any entry carries, file or folder, ours or not.
  for (const DirEntry& entry : storage.list(checkpoints_dir())) {
    if (auto name = checkpoint::parse_checkpoint_name(entry.name)) {
      ledger.next_seq = std::max(ledger.next_seq, name->seq + 1);
    }
  }
  clamp_future_times();
  store_ledger();
  try {
    checkpoint::remove_stray_segments(storage, options.serialization_dir, ledger);
  } catch (const Error& error) {
    log(LogLevel::Warning, std::string("leaving retention-segments/ as it is: ") + error.what());
  }
}

// A damaged ledger no longer says which checkpoints were kept for good, and guessing wrong would
// delete them: the newest N (the last-N window) are queued, every older one that verifies is
// kept for good (cairn prune, or a person, can still remove them), and the K-seconds rule counts
// from the newest of those.
Ledger Checkpointer::Impl::rebuilt_ledger() const {
  Ledger rebuilt;
  rebuilt.reference_time = constructed_at;
  std::vector<checkpoint::LedgerEntry> found;  // oldest first
  const std::vector<Candidate> on_disk = scan();  // newest first
  for (auto it = on_disk.rbegin(); it != on_disk.rend(); ++it) {
    try {
      auto opened = open_checkpoint(*it);
      found.push_back({it->folder, opened.manifest().save_time, opened.manifest().metrics});
    } catch (const CorruptDataError&) {  // NOLINT(bugprone-empty-catch): not provably ours
    }
  }
  const auto policy = checkpoint::policy_of(options);
  const bool limited = policy.keep_last && *policy.keep_last >= 0;
  const size_t window = limited ? static_cast<size_t>(std::max(*policy.keep_last, 1)) : found.size();
  const size_t older = found.size() - std::min(window, found.size());
  rebuilt.permanent.assign(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(older));
  rebuilt.queue.assign(found.begin() + static_cast<std::ptrdiff_t>(older), found.end());
  if (!rebuilt.permanent.empty()) {
    rebuilt.reference_time = std::min(constructed_at, rebuilt.permanent.back().save_time);
    log(LogLevel::Warning, std::to_string(older) + " older checkpoint(s) are kept for good: the " +
                               "damaged ledger no longer says which of them were");
  }
  return rebuilt;
}

// A wall clock that was set ahead leaves save times in the future; kept, they would make the
// K-seconds rule keep nothing for good until that time comes (across restarts, as the ledger
// keeps them). They are brought back to now.
void Checkpointer::Impl::clamp_future_times() {
  const size_t clamped = ledger.clamp_future_times(clock->now());
  if (clamped > 0) {
    log(LogLevel::Warning, std::to_string(clamped) + " time(s) in " +
                               (options.serialization_dir / checkpoint::kLedgerFile).string() +
                               " lie in the future (the clock was set back since); using now");
  }
}

void Checkpointer::Impl::store_ledger() {
  lock->check_held();
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

std::vector<std::string> Checkpointer::Impl::on_every_rank(
    std::string_view what, const std::function<std::string()>& step) const {
  constexpr char kOk = 'o', kFailed = 'f';
  std::string mine;
  std::exception_ptr own_error;
  try {
    mine = kOk + step();
  }
  CAIRN_RETHROW_FORCED_UNWIND
  catch (const std::exception& error) {
    own_error = std::current_exception();
    mine = kFailed + std::string(error.what());
  } catch (...) {
    own_error = std::current_exception();
    mine = kFailed + std::string("an unknown exception");
  }
  std::vector<std::string> outcomes = ranks.all_gather(mine, what);
  if (own_error) std::rethrow_exception(own_error);
  std::string failures;
  for (size_t rank = 0; rank < outcomes.size(); ++rank) {
    if (!outcomes[rank].empty() && outcomes[rank][0] == kOk) {
      outcomes[rank].erase(0, 1);
      continue;
    }
    failures += (failures.empty() ? "" : "; ") + std::string("rank ") + std::to_string(rank) +
                ": " + outcomes[rank].substr(std::min<size_t>(1, outcomes[rank].size()));
  }
  if (!failures.empty()) {
    throw RankError(std::string(what) + " failed on another rank (" + failures + ")",
                    options.serialization_dir);
  }
  return outcomes;
}

void Checkpointer::Impl::save(int64_t epoch, std::optional<int64_t> batches_this_epoch,
                              Trainer& trainer, bool is_best_so_far, double save_time,
                              const Metrics& metrics) {
  if (epoch < 0) throw InvalidArgumentError("epoch must not be negative");
  if (batches_this_epoch && *batches_this_epoch < 0) {
    throw InvalidArgumentError("batches_this_epoch must not be negative");
  }
  const bool leader = ranks.rank() == 0;
  // 1. Every rank takes its state and sets its pieces apart; rank 0 reserves the name and a
  //    staging folder, which every rank learns.
  CheckpointState state;
  std::vector<checkpoint::Piece> pieces;
  std::optional<storage::StagedFolder> staged;
  std::optional<PendingSave> pending;
  try {
    const std::vector<std::string> started = on_every_rank("the start of a save", [&] {
      state = trainer.get_checkpoint_state();
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
      if (leader) {
        if (!lock) become_writer();
        check_free_space(tensor_bytes(state.model_state) + tensor_bytes(state.training_state));
      }
      pieces = checkpoint::take_pieces(state);
      // Rank 0 learns every sharded path (to leave a place for each in its trees); every rank
      // learns the staging folder, at the head of rank 0's report.
      if (!leader) return checkpoint::paths_to_text(pieces);
      pending = reserve(epoch, batches_this_epoch, save_time, metrics);
      staged.emplace(staging.begin(pending->folder_name));
      return start_report(staged->path().string(), checkpoint::paths_to_text(pieces));
    });
    const std::string staging_path = split_start_report(started[0]).first;
    // 2. Every rank writes its files into the staging folder.
    const std::vector<std::string> written =
        on_every_rank("writing " + (leader ? pending->folder_name : staging_path), [&] {
          const fs::path dir = staging_path;
          std::vector<checkpoint::ManifestFile> files;
          if (leader) {
            for (size_t rank = 0; rank < started.size(); ++rank) {
              const std::string& report = started[rank];
              checkpoint::make_room(state, checkpoint::paths_from_text(
                                               rank == 0 ? split_start_report(report).second
                                                         : report));
            }
            files = checkpoint::write_state_files(storage, dir, state.model_state,
                                                  &state.training_state);
          }
          std::string shard_file;
          if (!leader) {
            uint64_t bytes = 0;
            for (const auto& piece : pieces) bytes += piece.tensor.nbytes();
            check_free_space(bytes);
          }
          if (!pieces.empty()) {
            shard_file = checkpoint::shard_file_name(ranks.rank());
            files.push_back(checkpoint::write_pieces(storage.create_file(dir / shard_file),
                                                     dir / shard_file, pieces));
          }
          checkpoint::Manifest part;
          part.files = files;
          part.sharded = checkpoint::layouts_of(pieces, shard_file);
          return checkpoint::render_manifest(part);
        });
    // 3. Rank 0 commits what all wrote; every rank learns the verdict.
    on_every_rank("the commit of a save", [&] {
      if (leader) commit(*pending, *staged, written, is_best_so_far);
      return std::string();
    });
  } catch (...) {
    if (pending) abandon(*pending);
    throw;
  }
}

void Checkpointer::Impl::start_save(int64_t epoch, std::optional<int64_t> batches_this_epoch,
                                    Trainer& trainer, bool is_best_so_far, double save_time,
                                    const Metrics& metrics) {
  settle_background();
  if (!options.async_save) {
    save(epoch, batches_this_epoch, trainer, is_best_so_far, save_time, metrics);
    return;
  }
  CheckpointState staged;
  std::exception_ptr failure;
  try {
    CheckpointState state = trainer.get_checkpoint_state();
    const uint64_t bytes = checkpoint::StagingMemory::staged_size(state);
    if (!staging_memory.fits(bytes)) {
      log(LogLevel::Warning, "the state takes " + format_bytes(bytes) + ", more than " +
                                 "async_staging_bytes (" +
                                 format_bytes(*options.async_staging_bytes) +
                                 "): saving synchronously");
      TakenState taken(std::move(state), nullptr);
      save(epoch, batches_this_epoch, taken, is_best_so_far, save_time, metrics);
      return;
    }
    staged = staging_memory.stage(state);
  }
  CAIRN_RETHROW_FORCED_UNWIND
  catch (...) {
    // Alone, fail now; with other ranks, fail inside the save, so that every rank learns it.
    if (ranks.size() == 1) throw;
    failure = std::current_exception();
  }
  background.start([this, epoch, batches_this_epoch, is_best_so_far, save_time, metrics,
                    staged = std::move(staged), failure]() mutable {
    TakenState taken(std::move(staged), failure);
    save(epoch, batches_this_epoch, taken, is_best_so_far, save_time, metrics);
  });
}

Checkpointer::Impl::PendingSave Checkpointer::Impl::reserve(
    int64_t epoch, std::optional<int64_t> batches_this_epoch, double save_time,
    const Metrics& metrics) {
  if (ledger.next_seq > checkpoint::kMaxSeq) {
    throw InvalidArgumentError("cannot save into " + options.serialization_dir.string() +
                                   ": its sequence numbers are used up (the next would be " +
                                   std::to_string(ledger.next_seq) + ", past " +
                                   std::to_string(checkpoint::kMaxSeq) + ")",
                               options.serialization_dir);
  }
  PendingSave pending;
  pending.recorded = recordable(metrics, epoch, !batches_this_epoch);
  pending.started = clock->now();
  pending.name = CheckpointName{ledger.next_seq, epoch, batches_this_epoch};
  pending.folder_name = checkpoint::format_checkpoint_name(pending.name);
  pending.save_time = save_time;
  // Intent first: whatever happens next, the ledger knows this name is ours.
  ledger.next_seq += 1;
  ledger.pending.push_back({pending.folder_name, save_time, pending.recorded});
  store_ledger();
  return pending;
}

void Checkpointer::Impl::commit(PendingSave& pending, storage::StagedFolder& staged,
                                const std::vector<std::string>& written, bool is_best_so_far) {
  checkpoint::Manifest manifest;
  manifest.seq = pending.name.seq;
  manifest.epoch = pending.name.epoch;
  manifest.batches_this_epoch = pending.name.batches_this_epoch;
  manifest.save_time = pending.save_time;
  manifest.is_best = is_best_so_far;
  manifest.metrics = pending.recorded;
  std::vector<std::vector<checkpoint::ShardedTensorLayout>> layouts;
  for (const std::string& part : written) {
    checkpoint::Manifest files = checkpoint::parse_manifest(part, staged.path());
    manifest.files.insert(manifest.files.end(), files.files.begin(), files.files.end());
    layouts.push_back(std::move(files.sharded));
  }
  manifest.sharded = checkpoint::merge_layouts(layouts);
  if (auto problem = checkpoint::layout_problem(manifest.sharded)) {
    throw InvalidArgumentError("cannot commit " + pending.folder_name + ": " + *problem);
  }
  checkpoint::write_manifest_file(storage, staged.path(), manifest);
  const fs::path destination = checkpoints_dir() / pending.folder_name;
  lock->check_held();
  staged.publish(destination);
  pending.published = true;
  ledger.pending.pop_back();
  ledger.queue.push_back({pending.folder_name, pending.save_time, pending.recorded});
  uint64_t bytes = 0;
  for (const auto& file : manifest.files) bytes += file.size;
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.3f s", clock->now() - pending.started);
  const auto& batches = pending.name.batches_this_epoch;
  log(LogLevel::Info, "saved " + destination.string() + " (epoch " +
                          std::to_string(pending.name.epoch) +
                          (batches ? ", batch " + std::to_string(*batches)
                                   : std::string(", end of epoch")) +
                          ", " + format_bytes(bytes) + ") in " + seconds);

  // 5. Best (or the repair of one an earlier save could not make).
  if (is_best_so_far) {
    update_best(pending.folder_name, manifest);
  } else {
    repair_best();
  }

  // 6 and 7.
  apply_retention(pending.folder_name);
}

void Checkpointer::Impl::update_best(const std::string& name, const checkpoint::Manifest& manifest) {
  try {
    checkpoint::publish_best(storage, staging, options.serialization_dir, checkpoints_dir() / name,
                             manifest);
  } catch (const LockLostError&) {
    throw;
  } catch (const Error& error) {
    ledger.best_pending = name;
    log(LogLevel::Warning, name + " is committed and restorable, but best/ was not updated (" +
                               error.what() + "); best/ still holds " +
                               ledger.best.value_or("nothing") + ", and the next save tries again");
    return;
  }
  ledger.best = name;
  ledger.best_pending.reset();
  log(LogLevel::Info, "best model is now " + name);
}

void Checkpointer::Impl::repair_best() {
  if (!ledger.best_pending) return;
  const std::string name = *ledger.best_pending;
  std::optional<checkpoint::Manifest> manifest;
  try {
    const auto parsed = checkpoint::parse_checkpoint_name(name);
    if (!parsed) throw CorruptDataError(checkpoints_dir() / name, "not a checkpoint name");
    manifest = open_checkpoint({*parsed, name}).manifest();
  } catch (const CorruptDataError& error) {
    ledger.best_pending.reset();
    log(LogLevel::Warning, "best/ cannot be made from " + name + " any more: " + error.what());
    return;
  }
  update_best(name, *manifest);
}

// After a failed save: the ledger forgets the pending name unless the rename happened before
// the failure (a failed fsync of checkpoints/): then the folder is ours and stays. When unsure,
// it stays pending.
void Checkpointer::Impl::abandon(const PendingSave& pending) noexcept {
  if (pending.published) return;  // the ledger has it already
  storage::cleanup_quietly([&] {
    const bool published = storage.exists(checkpoints_dir() / pending.folder_name);
    checkpoint::LedgerEntry entry = ledger.pending.back();
    ledger.pending.pop_back();
    if (published) ledger.queue.push_back(entry);
    store_ledger();
  });
}

void Checkpointer::Impl::apply_retention(const std::string& newest) {
  clamp_future_times();
  const auto outcome = checkpoint::apply_retention(ledger, checkpoint::policy_of(options), newest,
                                                    checkpoint::Explain::Changes);
  store_ledger();
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
  lock->check_held();
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

Checkpointer::~Checkpointer() {
  if (auto failure = impl_->background.finish()) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& error) {
      impl_->log(LogLevel::Warning, std::string("an asynchronous save failed: ") + error.what());
    } catch (...) {
      impl_->log(LogLevel::Warning, "an asynchronous save failed with an unknown exception");
    }
  }
}

const CheckpointerOptions& Checkpointer::options() const noexcept { return impl_->options; }

bool Checkpointer::maybe_save_checkpoint(Trainer& trainer, int64_t epoch,
                                         int64_t batches_this_epoch) {
  // Called every batch: a background failure is reported at once, without waiting for a save
  // still running.
  if (auto failure = impl_->background.finish_if_done()) std::rethrow_exception(failure);
  if (!impl_->options.model_save_interval) return false;
  const double elapsed_now = impl_->clock->monotonic_now();
  const bool due = elapsed_now - impl_->last_timed_save >= *impl_->options.model_save_interval;
  // Ranks' clocks differ: rank 0's decides for all (through the coordinator, which a save in
  // flight may be using: wait for it).
  if (impl_->ranks.size() > 1) impl_->settle_background();
  if (impl_->ranks.size() > 1 ? impl_->agree(due ? "save" : "", "the timed-save decision").empty()
                              : !due) {
    return false;
  }
  impl_->last_timed_save = elapsed_now;
  impl_->start_save(epoch, batches_this_epoch, trainer, false, impl_->clock->now(), {});
  return true;
}

void Checkpointer::save_checkpoint_inside_epoch(Trainer& trainer, int64_t epoch,
                                               int64_t batches_this_epoch, bool is_best_so_far,
                                               const Metrics& metrics) {
  impl_->last_timed_save = impl_->clock->monotonic_now();
  impl_->start_save(epoch, batches_this_epoch, trainer, is_best_so_far, impl_->clock->now(),
                    metrics);
}

void Checkpointer::save_checkpoint(int64_t epoch, Trainer& trainer, bool is_best_so_far,
                                   const Metrics& metrics) {
  impl_->start_save(epoch, std::nullopt, trainer, is_best_so_far, impl_->clock->now(), metrics);
}

std::optional<CheckpointPaths> Checkpointer::find_latest_checkpoint() const {
  impl_->settle_background();
  std::optional<CheckpointPaths> latest;
  impl_->with_newest_valid([&](const Candidate& candidate, const OpenedCheckpoint& opened) {
    opened.verify(static_cast<size_t>(impl_->ranks.rank()), static_cast<size_t>(impl_->ranks.size()));
    latest = impl_->paths_of(candidate.folder);
  });
  return latest;
}

CheckpointState Checkpointer::restore_checkpoint() { return impl_->restore({}, {}); }

CheckpointState Checkpointer::restore_checkpoint_into(const CheckpointState& into) {
  return impl_->restore({}, into);
}

CheckpointState Checkpointer::restore_shards(const SliceRequest& slices) {
  return impl_->restore(slices, {});
}

CheckpointState Checkpointer::Impl::restore(const SliceRequest& slices,
                                            const CheckpointState& into) {
  settle_background();
  CheckpointState restored;
  last_restored.reset();
  with_newest_valid([&](const Candidate& candidate, const OpenedCheckpoint& opened) {
    restored = opened.load(slices, into);
    const Ledger recorded = current_ledger();
    const bool permanent = std::any_of(
        recorded.permanent.begin(), recorded.permanent.end(),
        [&](const checkpoint::LedgerEntry& entry) { return entry.name == candidate.folder; });
    last_restored = info_of(candidate, opened, recorded, permanent);
    log(LogLevel::Info, "restored " + (checkpoints_dir() / candidate.folder).string());
  });
  return restored;
}

State Checkpointer::best_model_state() {
  impl_->settle_background();
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
  impl_->settle_background();
  Ledger ledger = impl_->current_ledger();
  return checkpoint::decide_retention(impl_->storage, impl_->options.serialization_dir, ledger,
                                      checkpoint::policy_of(impl_->options), /*verify_data=*/false);
}

std::vector<CheckpointInfo> Checkpointer::list_checkpoints() const {
  impl_->settle_background();
  const Ledger ledger = impl_->current_ledger();
  std::vector<CheckpointInfo> infos;
  auto add = [&](const checkpoint::LedgerEntry& entry, bool permanent) {
    auto name = checkpoint::parse_checkpoint_name(entry.name);
    if (!name) return;
    try {
      const Candidate candidate{*name, entry.name};
      infos.push_back(
          impl_->info_of(candidate, impl_->open_checkpoint(candidate), ledger, permanent));
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

std::optional<CheckpointInfo> Checkpointer::last_restored() const { return impl_->last_restored; }

void Checkpointer::wait() { impl_->settle_background(); }

}  // namespace cairn
