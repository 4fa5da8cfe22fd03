#include "checkpointer/checkpoint_reader.hpp"

#include <algorithm>

#include "cairn/error.hpp"
#include "checkpoint/best_model.hpp"
#include "checkpoint/layout.hpp"
#include "checkpoint/shard_pieces.hpp"
#include "storage/folder_pin.hpp"

namespace cairn::checkpointer {

namespace fs = std::filesystem;
using checkpoint::Ledger;
using checkpoint::OpenedCheckpoint;

ReadVerdict CheckpointReader::try_candidate(const std::string& folder, const Use& use) const {
  const fs::path dir = context_.checkpoints_dir() / folder;
  const auto name = checkpoint::parse_checkpoint_name(folder);
  if (!name) throw CorruptDataError(dir, "not a checkpoint name");
  try {
    const storage::FolderPin pin = storage::FolderPin::shared(context_.storage, dir);
    const Candidate candidate{*name, folder};
    use(candidate, checkpoint::open_published(context_.storage, context_.checkpoints_dir(), candidate.folder));
    return {};
  } catch (const CorruptDataError& error) {
    if (!context_.storage.exists(dir)) return {ReadVerdict::Kind::Vanished, {}};
    return {ReadVerdict::Kind::Corrupt, error.what()};
  }
}

bool CheckpointReader::with_newest_valid(const Use& use) const {
  constexpr int kScans = 8;
  const RankGroup& ranks = context_.ranks;
  for (int scan_number = 0; scan_number < kScans; ++scan_number) {
    bool any_vanished = false;
    const std::vector<Candidate> candidates =
        ranks.leader() ? scan_checkpoints(context_.storage, context_.checkpoints_dir())
                       : std::vector<Candidate>{};
    for (size_t i = 0;; ++i) {
      const Choice folder = ranks.agree<Choice>(
          i < candidates.size() ? Choice(candidates[i].folder) : std::nullopt,
          "choosing the checkpoint to read");
      if (!folder) break;
      const std::vector<ReadVerdict> verdicts = ranks.on_every_rank<ReadVerdict>(
          "reading checkpoint " + *folder, [&] { return try_candidate(*folder, use); });
      std::string problems;
      bool vanished = false;
      for (size_t rank = 0; rank < verdicts.size(); ++rank) {
        if (verdicts[rank].kind == ReadVerdict::Kind::Vanished) {
          vanished = true;
        } else if (verdicts[rank].kind == ReadVerdict::Kind::Corrupt) {
          problems += (problems.empty() ? "" : "; ") +
                      (ranks.size() > 1 ? "rank " + std::to_string(rank) + ": " : std::string()) +
                      verdicts[rank].problem;
        }
      }
      if (problems.empty() && !vanished) return true;
      if (!problems.empty()) {
        context_.log(LogLevel::Warning, "skipping checkpoint " + *folder + ": " + problems +
                                            "; trying an older one");
      } else {
        any_vanished = true;
      }
    }
    if (!ranks.agree<bool>(any_vanished, "rescanning checkpoints")) break;
  }
  return false;
}

std::optional<CheckpointPaths> CheckpointReader::find_latest() const {
  std::optional<CheckpointPaths> latest;
  with_newest_valid([&](const Candidate& candidate, const OpenedCheckpoint& opened) {
    opened.verify(static_cast<size_t>(context_.ranks.rank()),
                  static_cast<size_t>(context_.ranks.size()));
    latest = paths_of(candidate.folder);
  });
  return latest;
}

CheckpointState CheckpointReader::restore(const SliceRequest& slices, const CheckpointState& into,
                                          const std::function<Ledger()>& ledger,
                                          std::optional<CheckpointInfo>& restored) const {
  CheckpointState state;
  restored.reset();
  with_newest_valid([&](const Candidate& candidate, const OpenedCheckpoint& opened) {
    state = opened.load(slices, into);
    const Ledger recorded = ledger();
    const bool permanent = std::any_of(
        recorded.permanent.begin(), recorded.permanent.end(),
        [&](const checkpoint::LedgerEntry& entry) { return entry.name == candidate.folder; });
    restored = info_of(candidate, opened, recorded, permanent);
    context_.log(LogLevel::Info, "restored " + (context_.checkpoints_dir() / candidate.folder).string());
  });
  return state;
}

State CheckpointReader::best_model_state() const {
  // A writer may swing `best` between our reading the link and opening the folder: retry.
  for (int attempt = 0;; ++attempt) {
    auto folder = checkpoint::best_folder(context_.storage, context_.dir());
    if (!folder) return State();
    try {
      return OpenedCheckpoint::open(context_.storage, *folder, /*require_training_state=*/false)
          .load()
          .model_state;
    } catch (const CorruptDataError&) {
      if (attempt == 2) throw;
    }
  }
}

std::vector<CheckpointInfo> CheckpointReader::list(const Ledger& ledger) const {
  std::vector<CheckpointInfo> infos;
  auto add = [&](const checkpoint::LedgerEntry& entry, bool permanent) {
    auto name = checkpoint::parse_checkpoint_name(entry.name);
    if (!name) return;
    try {
      const Candidate candidate{*name, entry.name};
      infos.push_back(info_of(
          candidate, checkpoint::open_published(context_.storage, context_.checkpoints_dir(), candidate.folder),
          ledger, permanent));
    } catch (const CorruptDataError& error) {
      context_.log(LogLevel::Warning, std::string("not listing ") + entry.name + ": " + error.what());
    }
  };
  for (const auto& entry : ledger.permanent) add(entry, true);
  for (const auto& entry : ledger.retained) add(entry, false);
  for (const auto& entry : ledger.queue) add(entry, false);
  std::sort(infos.begin(), infos.end(),
            [](const CheckpointInfo& a, const CheckpointInfo& b) { return a.seq < b.seq; });
  return infos;
}

CheckpointPaths CheckpointReader::paths_of(const std::string& folder) const {
  const fs::path dir = context_.checkpoints_dir() / folder;
  return {dir, dir / checkpoint::kModelFile, dir / checkpoint::kTrainingStateFile};
}

CheckpointInfo CheckpointReader::info_of(const Candidate& candidate, const OpenedCheckpoint& opened,
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

}  // namespace cairn::checkpointer
