// Retention policies beyond AllenNLP's (docs/retention.md): best k by a metric, every n-th
// epoch, their composition ("kept if any policy keeps it"), the invariants, restarts and option
// changes, and the explanations. All on real directories through the Checkpointer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <future>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cairn/cairn.hpp"
#include "cairn/inspect.hpp"
#include "checkpoint/layout.hpp"
#include "retention/retention_rules.hpp"
#include "format/checksum.hpp"
#include "support/forwarding_storage.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

using Epochs = std::vector<int64_t>;

// One training run's directory, clock and log; `options()` keeps the last 2 by default.
class TrainingRun {
 public:
  CheckpointerOptions options(std::optional<int> keep_last = 2) const {
    CheckpointerOptions options = testing::test_options(dir.path(), clock, log);
    options.num_serialized_models_to_keep = keep_last;
    return options;
  }
  CheckpointerOptions best_options(int k, std::optional<int> keep_last = 2,
                                   MetricMode mode = MetricMode::Min) const {
    CheckpointerOptions options = this->options(keep_last);
    options.keep_best_k = k;
    options.metric = "val_loss";
    options.mode = mode;
    return options;
  }
  // End-of-epoch saves of epochs first.. with the given values of val_loss.
  void save_epochs(Checkpointer& checkpointer, int64_t first, const std::vector<double>& losses) {
    for (size_t i = 0; i < losses.size(); ++i) {
      const int64_t epoch = first + static_cast<int64_t>(i);
      trainer.step = epoch;
      clock->advance(1);
      checkpointer.save_checkpoint(epoch, trainer, false, {{"val_loss", losses[i]}});
    }
  }
  Epochs on_disk() const { return testing::epochs_on_disk(dir.path()); }

  testing::TempDir dir;
  std::shared_ptr<testing::FakeClock> clock = std::make_shared<testing::FakeClock>();
  testing::LogRecorder log;
  testing::ToyTrainer trainer;
};

// What the policies must leave after end-of-epoch saves of epochs 0.. with `values`: the last
// `keep_last`, the `k` best of all (ties: the newer), and the multiples of `n`.
Epochs expected_epochs(const std::vector<double>& values, size_t keep_last, size_t k,
                       MetricMode mode, int64_t n = 0) {
  const auto count = static_cast<int64_t>(values.size());
  std::set<int64_t> kept;
  for (int64_t epoch = std::max<int64_t>(0, count - static_cast<int64_t>(keep_last)); epoch < count;
       ++epoch) {
    kept.insert(epoch);
  }
  std::vector<int64_t> ranked;
  for (int64_t epoch = 0; epoch < count; ++epoch) {
    if (std::isfinite(values[epoch])) ranked.push_back(epoch);
  }
  std::sort(ranked.begin(), ranked.end(), [&](int64_t a, int64_t b) {
    if (values[a] != values[b]) {
      return mode == MetricMode::Min ? values[a] < values[b] : values[a] > values[b];
    }
    return a > b;
  });
  for (size_t i = 0; i < std::min(k, ranked.size()); ++i) kept.insert(ranked[i]);
  for (int64_t epoch = 0; n > 0 && epoch < count; epoch += n) kept.insert(epoch);
  return Epochs(kept.begin(), kept.end());
}

std::string reason_of(const std::vector<RetentionDecision>& decisions, int64_t epoch) {
  for (const auto& decision : decisions) {
    if (checkpoint::parse_checkpoint_name(decision.name)->epoch == epoch) return decision.reason;
  }
  return "(no decision)";
}

// ---- each policy ----

TEST(BestK, KeepsTheKSmallestValuesWithModeMin) {
  TrainingRun run;
  Checkpointer checkpointer(run.best_options(2, 1));
  const std::vector<double> losses = {0.9, 0.5, 0.7, 0.3, 0.8, 0.6};
  run.save_epochs(checkpointer, 0, losses);
  EXPECT_EQ(run.on_disk(), (Epochs{1, 3, 5}));
  EXPECT_EQ(run.on_disk(), expected_epochs(losses, 1, 2, MetricMode::Min));
  // The value rides in the manifest and the listing.
  auto listed = checkpointer.list_checkpoints();
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[1].metrics, (Metrics{{"val_loss", 0.3}}));
  const auto decisions = checkpointer.explain_retention();
  EXPECT_EQ(reason_of(decisions, 3), "kept: best 1 of 2 by val_loss (min) = 0.3");
  EXPECT_EQ(reason_of(decisions, 1), "kept: best 2 of 2 by val_loss (min) = 0.5");
  EXPECT_EQ(reason_of(decisions, 5), "kept: one of the last 1");
}

TEST(BestK, KeepsTheKLargestValuesWithModeMax) {
  TrainingRun run;
  Checkpointer checkpointer(run.best_options(2, 1, MetricMode::Max));
  const std::vector<double> accuracy = {0.1, 0.5, 0.4, 0.9, 0.2, 0.3};
  run.save_epochs(checkpointer, 0, accuracy);
  EXPECT_EQ(run.on_disk(), (Epochs{1, 3, 5}));
}

TEST(BestK, TiesKeepTheNewer) {
  TrainingRun run;
  Checkpointer checkpointer(run.best_options(1, 1));
  run.save_epochs(checkpointer, 0, {0.5, 0.4, 0.4, 0.9, 0.9});
  EXPECT_EQ(run.on_disk(), (Epochs{2, 4}));
}

TEST(BestK, CheckpointsWithoutAFiniteValueNeverCountAsBest) {
  TrainingRun run;
  Checkpointer checkpointer(run.best_options(3, 1));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  run.save_epochs(checkpointer, 0, {0.5, nan, std::numeric_limits<double>::infinity()});
  run.trainer.step = 3;
  checkpointer.save_checkpoint(3, run.trainer, false, {{"accuracy", 0.1}});  // no val_loss
  run.trainer.step = 4;
  checkpointer.save_checkpoint(4, run.trainer);  // no metrics at all
  // Only epoch 0 has a value: best 3 keeps it alone, the last 1 keeps epoch 4.
  EXPECT_EQ(run.on_disk(), (Epochs{0, 4}));
  // Non-finite values are reported and not recorded; a missing value is reported.
  EXPECT_EQ(run.log.matching("metric val_loss of epoch 1 is nan; not recorded").size(), 1u);
  EXPECT_EQ(run.log.matching("metric val_loss of epoch 2 is inf; not recorded").size(), 1u);
  EXPECT_EQ(run.log.matching("the save of epoch 3 has no value for val_loss").size(), 1u);
  EXPECT_EQ(run.log.matching("given: accuracy").size(), 1u);
  EXPECT_EQ(run.log.matching("the save of epoch 4 has no value for val_loss").size(), 1u);
  EXPECT_NE(run.log.matching("deleted: outside the last 1, no policy keeps it (no val_loss value)")
                .size(),
            0u);
}

TEST(EveryNEpochs, KeepsEndOfEpochMultiplesForGoodButNotSavesInsideThem) {
  TrainingRun run;
  CheckpointerOptions options = run.options(1);
  options.keep_every_n_epochs = 5;
  options.model_save_interval = 10;
  Checkpointer checkpointer(options);
  for (int64_t epoch = 0; epoch < 12; ++epoch) {
    run.trainer.step = epoch;
    run.clock->advance(11);
    ASSERT_TRUE(checkpointer.maybe_save_checkpoint(run.trainer, epoch, 3));  // inside the epoch
    checkpointer.save_checkpoint(epoch, run.trainer);
  }
  EXPECT_EQ(run.on_disk(), (Epochs{0, 5, 10, 11}));
  for (const auto& info : checkpointer.list_checkpoints()) {
    EXPECT_FALSE(info.batches_this_epoch.has_value()) << info.name;
  }
  EXPECT_EQ(reason_of(checkpointer.explain_retention(), 10), "kept: end of epoch 10, a multiple of 5");
}

// ---- composition and invariants ----

// Random values, many configurations: what stays is exactly the union of what each policy
// keeps, checked after every save (so a best-k member is never deleted while it is best).
TEST(Composition, KeptIsTheUnionOfThePoliciesAfterEverySave) {
  std::mt19937 random(12345);
  std::uniform_real_distribution<double> value(0.0, 1.0);
  for (size_t keep_last : {1u, 2u, 4u}) {
    for (size_t k : {1u, 3u}) {
      for (int64_t n : {0, 4}) {
        TrainingRun run;
        CheckpointerOptions options = run.best_options(static_cast<int>(k), static_cast<int>(keep_last));
        if (n > 0) options.keep_every_n_epochs = static_cast<int>(n);
        Checkpointer checkpointer(options);
        std::vector<double> losses;
        for (int64_t epoch = 0; epoch < 15; ++epoch) {
          losses.push_back(std::round(value(random) * 8) / 8);  // coarse, so ties happen
          run.save_epochs(checkpointer, epoch, {losses.back()});
          ASSERT_EQ(run.on_disk(), expected_epochs(losses, keep_last, k, MetricMode::Min, n))
              << "last " << keep_last << ", best " << k << ", every " << n << ", epoch " << epoch;
        }
      }
    }
  }
}

TEST(Invariants, TheNewestCheckpointIsKeptWhateverItsValue) {
  TrainingRun run;
  Checkpointer checkpointer(run.best_options(1, 1));
  run.save_epochs(checkpointer, 0, {0.1, 0.9, 0.8});
  // The newest (the one to resume from) stays although far from best: Orbax's best_fn trap.
  EXPECT_EQ(run.on_disk(), (Epochs{0, 2}));
  EXPECT_EQ(checkpointer.restore_checkpoint().training_state.at("epoch").as_int(), 2);
}

TEST(Invariants, TheNewestValidCheckpointIsKeptWhenANewerOneIsCorrupt) {
  TrainingRun run;
  {
    Checkpointer writer(run.best_options(1, 3));
    run.save_epochs(writer, 0, {0.1, 0.5, 0.6, 0.7});
  }
  // Damage the newest; pruning to the last 1 must keep epoch 2, the one a restore would use.
  auto listed = Checkpointer(run.options()).list_checkpoints();
  auto bytes = testing::read_bytes(listed.back().paths.model);
  bytes[bytes.size() - 2] ^= std::byte{1};
  testing::write_bytes(listed.back().paths.model, bytes);
  RetentionOverrides last_one;
  last_one.num_serialized_models_to_keep = 1;
  const auto decisions = prune_directory(run.dir.path(), last_one, /*dry_run=*/false);
  EXPECT_EQ(run.on_disk(), (Epochs{0, 2, 3}));
  EXPECT_EQ(reason_of(decisions, 2), "kept: the newest valid checkpoint");
  EXPECT_EQ(Checkpointer(run.options()).restore_checkpoint().training_state.at("epoch").as_int(), 2);
}

TEST(Invariants, KeepingZeroDeletesEvenTheNewestButNotBest) {
  TrainingRun run;
  Checkpointer checkpointer(run.options(0));
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    run.trainer.step = epoch;
    checkpointer.save_checkpoint(epoch, run.trainer, epoch == 1);
  }
  EXPECT_TRUE(run.on_disk().empty());
  EXPECT_EQ(checkpointer.best_model_state(), testing::ToyTrainer::state_at(1).model_state);
}

TEST(Invariants, BestIsUnaffectedByTheMetricPolicies) {
  TrainingRun run;
  Checkpointer checkpointer(run.best_options(1, 1));
  // is_best_so_far marks epoch 1, while val_loss ranks epoch 0 best: both are kept, separately.
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    run.trainer.step = epoch;
    checkpointer.save_checkpoint(epoch, run.trainer, epoch == 1, {{"val_loss", epoch == 0 ? 0.1 : 0.5}});
  }
  EXPECT_EQ(run.on_disk(), (Epochs{0, 3}));
  EXPECT_EQ(checkpointer.best_model_state(), testing::ToyTrainer::state_at(1).model_state);
}

// A Storage that stops the first read of a chosen file until the test lets it go: a restore
// caught in the middle.
class PausingStorage final : public testing::ForwardingStorage {
 public:
  explicit PausingStorage(std::string fragment) : fragment_(std::move(fragment)) {}
  std::promise<void> paused;
  std::promise<void> resume;

  std::unique_ptr<ReadableFile> open_file(const std::filesystem::path& path) override {
    if (!done_ && path.string().find(fragment_) != std::string::npos) {
      done_ = true;
      paused.set_value();
      resume.get_future().wait();
    }
    return ForwardingStorage::open_file(path);
  }

 private:
  std::string fragment_;
  bool done_ = false;
};

TEST(Invariants, ACheckpointBeingRestoredFromIsNotDeleted) {
  TrainingRun run;
  Checkpointer writer(run.options(1));
  run.save_epochs(writer, 0, {0.5});
  const std::string restoring = writer.list_checkpoints().back().name;

  PausingStorage pausing(restoring + "/" + checkpoint::kTrainingStateFile);
  CheckpointerOptions reader_options = run.options();
  reader_options.storage = &pausing;
  Checkpointer reader(reader_options);
  auto restored = std::async(std::launch::async, [&] { return reader.restore_checkpoint(); });
  // The reader has opened the manifest and the model, and waits before the training state.
  if (pausing.paused.get_future().wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    pausing.resume.set_value();
    FAIL() << "the restore never reached " << restoring;
  }

  run.save_epochs(writer, 1, {0.4, 0.3});  // keep the last 1: epoch 0 is due for deletion
  EXPECT_EQ(run.on_disk(), (Epochs{0, 2}));
  EXPECT_EQ(run.log.matching("not deleting " + restoring + " yet: a reader is restoring from it").size(),
            2u);
  // A checkpoint waiting to be deleted is not listed, and explained as going.
  EXPECT_EQ(writer.list_checkpoints().size(), 1u);
  EXPECT_EQ(reason_of(writer.explain_retention(), 0),
            "deleted: decided at an earlier save, not yet removed");
  pausing.resume.set_value();
  const CheckpointState state = restored.get();
  EXPECT_EQ(state.model_state, testing::ToyTrainer::state_at(0).model_state);
  EXPECT_EQ(state.training_state.at("epoch").as_int(), 0);

  run.save_epochs(writer, 3, {0.2});  // the reader is done: the next save deletes it
  EXPECT_EQ(run.on_disk(), (Epochs{3}));
}

// ---- restarts and option changes ----

TEST(Restarts, ThePolicyStateContinuesAcrossRuns) {
  TrainingRun run;
  std::mt19937 random(7);
  std::uniform_real_distribution<double> value(0.0, 1.0);
  std::vector<double> losses;
  for (int part = 0; part < 3; ++part) {  // three processes, one after another
    Checkpointer checkpointer(run.best_options(3, 2));
    for (int i = 0; i < 6; ++i) {
      losses.push_back(value(random));
      run.save_epochs(checkpointer, static_cast<int64_t>(losses.size()) - 1, {losses.back()});
    }
  }
  EXPECT_EQ(run.on_disk(), expected_epochs(losses, 2, 3, MetricMode::Min));
}

// docs/retention.md, "Changing the options": the new options apply, at the next save, to every
// checkpoint cairn wrote here and still keeps; kept-for-good ones of the K-seconds rule stay.
TEST(Restarts, NewOptionsApplyToEveryCheckpointAtTheNextSave) {
  TrainingRun run;
  {
    CheckpointerOptions first = run.best_options(2, 2);
    first.keep_every_n_epochs = 5;
    first.keep_serialized_model_every_num_seconds = 3.5;
    Checkpointer checkpointer(first);
    // Epochs 0..11, 1 s apart; values falling to epoch 4 (the best), then rising.
    run.save_epochs(checkpointer, 0, {0.9, 0.8, 0.7, 0.6, 0.1, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8});
  }
  // Last 2: 10, 11. Best 2: 4 (0.1), 5 (0.5). Multiples of 5: 0, 5, 10. Kept for good (more
  // than 3.5 s apart as they leave the window): 3, 7.
  EXPECT_EQ(run.on_disk(), (Epochs{0, 3, 4, 5, 7, 10, 11}));

  // Before saving, the second run's options can be explained: nothing is deleted by that.
  CheckpointerOptions second = run.options(2);  // no best-k, no every-n, no K
  second.keep_every_n_epochs = 10;
  Checkpointer checkpointer(second);
  const auto preview = checkpointer.explain_retention();
  EXPECT_EQ(reason_of(preview, 4), "deleted: outside the last 2, no policy keeps it");
  EXPECT_EQ(reason_of(preview, 3), "kept: for good (by an earlier keep-every-seconds option)");
  EXPECT_EQ(reason_of(preview, 0), "kept: end of epoch 0, a multiple of 10");
  EXPECT_EQ(run.on_disk(), (Epochs{0, 3, 4, 5, 7, 10, 11}));

  run.save_epochs(checkpointer, 12, {0.9});
  // Best-k is off: 4 and 5 go. Every 10th: 0 and 10 stay. For good stays for good.
  EXPECT_EQ(run.on_disk(), (Epochs{0, 3, 7, 10, 11, 12}));
  // The log says why, in the words of the explanation.
  EXPECT_EQ(run.log.matching("epoch4-end deleted: outside the last 2, no policy keeps it").size(), 1u);
}

TEST(Restarts, AnOldLedgerWithoutPolicyFieldsStillReads) {
  TrainingRun run;
  {
    Checkpointer checkpointer(run.options(3));
    run.save_epochs(checkpointer, 0, {0.5, 0.4, 0.3});
  }
  // Rewrite the ledger as the first release wrote it: no "retained", metrics or policy keys.
  const auto path = run.dir / "retention.json";
  const auto bytes = testing::read_bytes(path);
  auto json = nlohmann::ordered_json::parse(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  for (const char* key : {"retained", "keep_best_k", "metric", "mode", "keep_every_n_epochs"}) {
    json.erase(key);
  }
  for (auto& entry : json["queue"]) entry.erase("metrics");
  json.erase("ledger_xxh3");
  json["ledger_xxh3"] = format::to_hex16(format::xxh3(json.dump(2)));
  const std::string text = json.dump(2) + "\n";
  testing::write_bytes(path, std::vector<std::byte>(reinterpret_cast<const std::byte*>(text.data()),
                                                    reinterpret_cast<const std::byte*>(text.data()) + text.size()));

  Checkpointer checkpointer(run.best_options(1, 1));
  run.save_epochs(checkpointer, 3, {0.9});
  // Old checkpoints have no recorded value; the manifests still have them, but only the ledger
  // decides: epoch 3 is newest, nothing else has a value in the ledger.
  EXPECT_EQ(run.on_disk(), (Epochs{3}));
  EXPECT_TRUE(run.log.matching("rebuilding").empty());
}

// ---- configuration ----

TEST(Config, PoliciesComeFromJson) {
  testing::TempDir dir;
  auto checkpointer = Checkpointer::from_config(
      R"({"keep_best_k": 3, "metric": "accuracy", "mode": "max", "keep_every_n_epochs": 10})",
      dir.path());
  EXPECT_EQ(checkpointer->options().keep_best_k, 3);
  EXPECT_EQ(checkpointer->options().metric, "accuracy");
  EXPECT_EQ(checkpointer->options().mode, MetricMode::Max);
  EXPECT_EQ(checkpointer->options().keep_every_n_epochs, 10);
  auto off = Checkpointer::from_config(R"({"keep_best_k": null})", dir.path());
  EXPECT_FALSE(off->options().keep_best_k.has_value());
  EXPECT_EQ(off->options().mode, MetricMode::Min);
}

TEST(Config, BadPolicyOptionsAreRefusedByName) {
  testing::TempDir dir;
  auto refusal = [&](const std::string& json) {
    return testing::invalid_argument_message([&] { Checkpointer::from_config(json, dir.path()); });
  };
  EXPECT_NE(refusal(R"({"keep_best_k": 2})").find("keep_best_k needs the name of the metric"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"keep_best_k": -1, "metric": "m"})").find("keep_best_k must not be negative"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"keep_best_k": 1.5, "metric": "m"})").find("\"keep_best_k\" must be an integer"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"mode": "best"})").find("\"mode\" must be \"min\" or \"max\", not \"best\""),
            std::string::npos);
  EXPECT_NE(refusal(R"({"metric": 3})").find("\"metric\" must be a string"), std::string::npos);
  EXPECT_NE(refusal(R"({"keep_every_n_epochs": -5})").find("keep_every_n_epochs must not be negative"),
            std::string::npos);
}

}  // namespace
}  // namespace cairn
