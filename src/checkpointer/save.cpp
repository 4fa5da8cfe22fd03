#include "checkpointer/save.hpp"

#include <cerrno>
#include <cmath>

#include "cairn/error.hpp"
#include "cairn/text.hpp"
#include "checkpoint/checkpoint_files.hpp"
#include "checkpoint/shard_pieces.hpp"
#include "core/forced_unwind.hpp"
#include "core/state_walk.hpp"
#include "retention/policy.hpp"

namespace cairn::checkpointer {

namespace fs = std::filesystem;

namespace {

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

uint64_t tensor_bytes(const State& state) {
  return core::sum_over_tensors(state, [](const Tensor& tensor) { return tensor.nbytes(); });
}

std::vector<StatePath> paths_of(const std::vector<checkpoint::Piece>& pieces) {
  std::vector<StatePath> paths;
  paths.reserve(pieces.size());
  for (const auto& piece : pieces) paths.push_back(piece.path);
  return paths;
}

// The training state as saved: a map, with "epoch" and (inside an epoch) "batches_this_epoch".
void label(State& training_state, const SaveRequest& request) {
  if (training_state.is_null()) training_state = State::map();
  if (!training_state.is_map()) {
    throw InvalidArgumentError("the trainer's training state must be a map, not a " +
                               std::string(kind_name(training_state.kind())));
  }
  training_state["epoch"] = request.epoch;
  if (request.batches_this_epoch) {
    training_state["batches_this_epoch"] = *request.batches_this_epoch;
  } else {
    training_state.erase("batches_this_epoch");
  }
}

}  // namespace

Saver::Saver(const Context& context, DirectoryWriter& writer)
    : context_(context),
      writer_(writer),
      staging_memory_(context.dir(), context.options.async_staging_bytes) {}

void Saver::settle() {
  if (auto failure = background_.finish()) std::rethrow_exception(failure);
}

void Saver::throw_if_failed() {
  if (auto failure = background_.finish_if_done()) std::rethrow_exception(failure);
}

void Saver::check_free_space(uint64_t tensor_bytes) const {
  // Tensor bytes plus a margin for headers, manifest and ledger (headers are small next to data).
  const uint64_t needed = tensor_bytes + (1u << 20);
  const uint64_t available = context_.storage.available_bytes(context_.dir());
  if (needed > available) {
    throw IoError("save checkpoint in", context_.dir(), ENOSPC,
                  "needs about " + format_bytes(needed) + " but only " + format_bytes(available) +
                      " are free; nothing was written");
  }
}

Metrics Saver::recordable(const Metrics& metrics, int64_t epoch, bool end_of_epoch) const {
  Metrics finite;
  for (const auto& [name, value] : metrics) {
    if (std::isfinite(value)) {
      finite[name] = value;
    } else {
      context_.log(LogLevel::Warning, "metric " + name + " of epoch " + std::to_string(epoch) +
                                          " is " + std::to_string(value) +
                                          "; not recorded, never counts as best");
    }
  }
  const auto policy = checkpoint::policy_of(context_.options);
  if (end_of_epoch && policy.best_k_on() && !metrics.contains(policy.metric)) {
    std::string given;
    for (const auto& [name, value] : metrics) given += (given.empty() ? "" : ", ") + name;
    context_.log(LogLevel::Warning, "the save of epoch " + std::to_string(epoch) +
                                        " has no value for " + policy.metric +
                                        " (keep_best_k ranks by it; given: " +
                                        (given.empty() ? std::string("none") : given) +
                                        "); it never counts as best");
  }
  return finite;
}

void Saver::save(const SaveRequest& request, Trainer& trainer) {
  if (request.epoch < 0) throw InvalidArgumentError("epoch must not be negative");
  if (request.batches_this_epoch && *request.batches_this_epoch < 0) {
    throw InvalidArgumentError("batches_this_epoch must not be negative");
  }
  const RankGroup& ranks = context_.ranks;
  const bool leader = ranks.leader();
  CheckpointState state;
  std::vector<checkpoint::Piece> pieces;
  std::optional<storage::StagedFolder> staged;
  std::optional<Reservation> reservation;
  try {
    // 1. Take the state; rank 0 reserves the name and the staging folder.
    const std::vector<SaveStart> started =
        ranks.on_every_rank<SaveStart>("the start of a save", [&] {
          state = trainer.get_checkpoint_state();
          label(state.training_state, request);
          if (leader) {
            writer_.become_writer();
            check_free_space(tensor_bytes(state.model_state) + tensor_bytes(state.training_state));
          }
          pieces = checkpoint::take_pieces(state);
          SaveStart start{.staging_dir = {}, .sharded_paths = paths_of(pieces)};
          if (!leader) return start;
          reservation = writer_.reserve(
              request.epoch, request.batches_this_epoch, request.save_time,
              recordable(request.metrics, request.epoch, !request.batches_this_epoch));
          staged.emplace(writer_.begin_staging(*reservation));
          start.staging_dir = staged->path().string();
          return start;
        });
    const fs::path staging_dir = started[0].staging_dir;
    // 2. Every rank writes its files into the staging folder.
    const std::vector<WrittenFiles> written = ranks.on_every_rank<WrittenFiles>(
        "writing " + (leader ? reservation->folder_name : staging_dir.string()), [&] {
          WrittenFiles mine;
          if (leader) {
            for (const SaveStart& rank_start : started) {
              checkpoint::make_room(state, rank_start.sharded_paths);
            }
            mine.files = checkpoint::write_state_files(context_.storage, staging_dir,
                                                       state.model_state, &state.training_state);
          } else {
            uint64_t bytes = 0;
            for (const auto& piece : pieces) bytes += piece.tensor.nbytes();
            check_free_space(bytes);
          }
          if (!pieces.empty()) {
            const std::string shard_file = checkpoint::shard_file_name(ranks.rank());
            mine.files.push_back(checkpoint::write_pieces(
                context_.storage.create_file(staging_dir / shard_file), staging_dir / shard_file,
                pieces));
            mine.sharded = checkpoint::layouts_of(pieces, shard_file);
          }
          return mine;
        });
    // 3. Rank 0 commits what all wrote; every rank learns the verdict.
    ranks.on_every_rank<Done>("the commit of a save", [&] {
      if (leader) writer_.commit(*reservation, *staged, written, request.is_best_so_far);
      return Done{};
    });
  } catch (...) {
    if (reservation) writer_.abandon(*reservation);
    throw;
  }
}

void Saver::start(const SaveRequest& request, Trainer& trainer) {
  settle();
  if (!context_.options.async_save) {
    save(request, trainer);
    return;
  }
  CheckpointState staged;
  std::exception_ptr failure;
  try {
    CheckpointState state = trainer.get_checkpoint_state();
    const uint64_t bytes = checkpoint::StagingMemory::staged_size(state);
    if (!staging_memory_.fits(bytes)) {
      context_.log(LogLevel::Warning,
                   "the state takes " + format_bytes(bytes) + ", more than " +
                       "async_staging_bytes (" +
                       format_bytes(*context_.options.async_staging_bytes) +
                       "): saving synchronously");
      TakenState taken(std::move(state), nullptr);
      save(request, taken);
      return;
    }
    staged = staging_memory_.stage(state);
  }
  CAIRN_RETHROW_FORCED_UNWIND
  catch (...) {
    // Alone, fail now; with other ranks, fail inside the save, so that every rank learns it.
    if (context_.ranks.size() == 1) throw;
    failure = std::current_exception();
  }
  background_.start([this, request, staged = std::move(staged), failure]() mutable {
    TakenState taken(std::move(staged), failure);
    save(request, taken);
  });
}

}  // namespace cairn::checkpointer
