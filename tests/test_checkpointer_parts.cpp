// The Checkpointer's parts: checkpoint names, the manifest, the ledger, the retention rule.
#include <gtest/gtest.h>

#include <limits>

#include "cairn/cairn.hpp"
#include "checkpoint/layout.hpp"
#include "retention/ledger_file.hpp"
#include "checkpoint/manifest.hpp"
#include "retention/retention_rules.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn::checkpoint {
namespace {

TEST(CheckpointName, SortsInSaveOrderAndRoundTrips) {
  std::vector<CheckpointName> names = {{0, 0, 17}, {1, 0, std::nullopt}, {9, 12, 3},
                                       {10, 12, std::nullopt}, {1234567, 99, 100000}};
  std::vector<std::string> texts;
  for (const auto& name : names) {
    texts.push_back(format_checkpoint_name(name));
    auto parsed = parse_checkpoint_name(texts.back());
    ASSERT_TRUE(parsed.has_value()) << texts.back();
    EXPECT_EQ(parsed->seq, name.seq);
    EXPECT_EQ(parsed->epoch, name.epoch);
    EXPECT_EQ(parsed->batches_this_epoch, name.batches_this_epoch);
  }
  EXPECT_TRUE(std::is_sorted(texts.begin(), texts.end()));
  EXPECT_EQ(texts[0], "ckpt-0000000000-epoch0-batch17");
  EXPECT_EQ(texts[1], "ckpt-0000000001-epoch0-end");
  for (const char* other : {"ckpt-1-epoch0-end", "ckpt-0000000001-epoch-1-end",
                            "ckpt-0000000001-epoch01-end", "ckpt-0000000001-epoch1-end.tmp",
                            "ckpt-0000000001-epoch1-batch", "model_state_epoch_3.th", "",
                            "ckpt-0000000001-epoch1-batch+5", "ckpt-000000000a-epoch1-end"}) {
    EXPECT_FALSE(parse_checkpoint_name(other).has_value()) << other;
  }
}

Manifest sample_manifest() {
  Manifest manifest;
  manifest.seq = 12;
  manifest.epoch = 3;
  manifest.batches_this_epoch = 417;
  manifest.save_time = 1764369123.125;
  manifest.metrics = {{"val_loss", 0.4127}};
  manifest.files = {{"model.safetensors", 1000, 0x0123456789abcdef},
                    {"training_state.safetensors", 5, 42}};
  return manifest;
}

TEST(Manifest, RoundTripsAndRefusesAnyChangedByte) {
  const std::string text = render_manifest(sample_manifest());
  Manifest parsed = parse_manifest(text, "MANIFEST.json");
  EXPECT_EQ(parsed.seq, 12);
  EXPECT_EQ(parsed.batches_this_epoch, 417);
  EXPECT_EQ(parsed.save_time, 1764369123.125);
  EXPECT_EQ(parsed.files[0].xxh3, 0x0123456789abcdefu);
  EXPECT_EQ(parsed.metrics.at("val_loss"), 0.4127);
  EXPECT_NE(text.find("\"save_time_utc\": \"2025-11-28T22:32:03Z\""), std::string::npos) << text;
  // Flip every bit of every byte, one at a time: each is refused.
  int refused = 0, tried = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = text;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      ++tried;
      try {
        parse_manifest(flipped, "MANIFEST.json");
      } catch (const CorruptDataError&) {
        ++refused;
      }
    }
  }
  EXPECT_EQ(refused, tried);
}

TEST(Manifest, RefusesFileNamesOutsideTheCheckpoint) {
  for (const char* name : {"../model.safetensors", "/etc/passwd", "a/b", "..", ""}) {
    Manifest manifest = sample_manifest();
    manifest.files[0].name = name;
    EXPECT_THROW(parse_manifest(render_manifest(manifest), "MANIFEST.json"), CorruptDataError)
        << name;
  }
}

// The fuzzer found that a save_time of 1.8e52 reached an integer conversion (undefined
// behaviour) while the manifest was checked; now a time without a calendar date is refused.
TEST(Manifest, RefusesASaveTimeWithoutACalendarDate) {
  const std::string good = render_manifest(sample_manifest());
  const std::string shown = "1764369123.125";
  ASSERT_NE(good.find(shown), std::string::npos) << good;
  for (const char* hostile : {"1.79556e+52", "-1.0", "253402300800.0", "1e308"}) {
    std::string text = good;
    text.replace(text.find(shown), shown.size(), hostile);
    try {
      parse_manifest_values(text, "MANIFEST.json");
      ADD_FAILURE() << hostile << " was accepted";
    } catch (const CorruptDataError& error) {
      EXPECT_NE(std::string(error.what()).find("save_time"), std::string::npos) << error.what();
    }
  }
  Manifest manifest = sample_manifest();
  for (double hostile : {1.79556e52, -1.0, std::numeric_limits<double>::infinity(),
                         std::numeric_limits<double>::quiet_NaN()}) {
    manifest.save_time = hostile;
    EXPECT_THROW(render_manifest(manifest), InvalidArgumentError) << hostile;
  }
  manifest.save_time = 253402300799.0;  // the last second of year 9999 still has a date
  EXPECT_NE(render_manifest(manifest).find("9999-12-31T23:59:59Z"), std::string::npos);
}

TEST(Ledger, RoundTripsAndDetectsDamage) {
  testing::TempDir dir;
  EXPECT_FALSE(read_ledger(local_storage(), dir.path()).has_value());
  Ledger ledger;
  ledger.next_seq = 5;
  ledger.reference_time = 100.5;
  ledger.queue = {{"ckpt-0000000003-epoch3-end", 200, {{"val_loss", 0.25}}},
                  {"ckpt-0000000004-epoch4-end", 300, {}}};
  ledger.permanent = {{"ckpt-0000000001-epoch1-end", 150, {}}};
  ledger.retained = {{"ckpt-0000000000-epoch0-end", 120, {{"val_loss", 0.125}, {"acc", 0.5}}}};
  ledger.doomed = {"ckpt-0000000002-epoch2-end"};
  ledger.best = "ckpt-0000000004-epoch4-end";
  ledger.policy.keep_last = 2;
  ledger.policy.keep_best_k = 3;
  ledger.policy.metric = "acc";
  ledger.policy.mode = MetricMode::Max;
  ledger.policy.keep_every_n_epochs = 5;
  write_ledger(local_storage(), dir.path(), ledger);
  auto read = read_ledger(local_storage(), dir.path());
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->next_seq, 5);
  EXPECT_EQ(read->queue.size(), 2u);
  EXPECT_EQ(read->queue[0].metrics, ledger.queue[0].metrics);
  ASSERT_EQ(read->retained.size(), 1u);
  EXPECT_EQ(read->retained[0].metrics, ledger.retained[0].metrics);
  EXPECT_TRUE(read->owns("ckpt-0000000000-epoch0-end"));
  EXPECT_EQ(read->policy.keep_last, 2);
  EXPECT_EQ(read->policy.keep_best_k, 3);
  EXPECT_EQ(read->policy.metric, "acc");
  EXPECT_EQ(read->policy.mode, MetricMode::Max);
  EXPECT_EQ(read->policy.keep_every_n_epochs, 5);
  EXPECT_EQ(read->queue[1].save_time, 300);
  EXPECT_EQ(read->best, ledger.best);
  EXPECT_TRUE(read->owns("ckpt-0000000002-epoch2-end"));
  EXPECT_FALSE(read->owns("ckpt-0000000009-epoch9-end"));
  auto bytes = testing::read_bytes(dir / "retention.json");
  bytes[bytes.size() / 2] ^= std::byte{1};
  testing::write_bytes(dir / "retention.json", bytes);
  EXPECT_THROW(read_ledger(local_storage(), dir.path()), CorruptDataError);
}

Ledger queued(int count, double save_time = 0) {
  Ledger ledger;
  for (int i = 0; i < count; ++i) {
    ledger.queue.push_back({format_checkpoint_name({i, i, std::nullopt}), save_time, {}});
  }
  return ledger;
}

RetentionPolicy allennlp(std::optional<int> keep_last, std::optional<double> keep_every) {
  RetentionPolicy policy;
  policy.keep_last = keep_last;
  policy.keep_every_seconds = keep_every;
  return policy;
}

TEST(Retention, KeepsTheLastN) {
  Ledger ledger = queued(5);
  auto outcome = apply_retention(ledger, allennlp(2, std::nullopt), std::nullopt);
  ASSERT_EQ(outcome.decisions.size(), 5u);
  EXPECT_EQ(outcome.changed.size(), 3u);
  EXPECT_EQ(ledger.queue.size(), 2u);
  EXPECT_EQ(ledger.doomed.size(), 3u);
  EXPECT_EQ(outcome.decisions[0].reason, "deleted: outside the last 2, no policy keeps it");
  EXPECT_EQ(outcome.decisions[4].reason, "kept: one of the last 2");
  ledger.doomed.clear();  // as a writer does once it has deleted them
  EXPECT_TRUE(apply_retention(ledger, allennlp(2, std::nullopt), std::nullopt).changed.empty());
}

TEST(Retention, NoneOrNegativeKeepsAllAndZeroKeepsNone) {
  Ledger all = queued(4);
  EXPECT_TRUE(apply_retention(all, allennlp(std::nullopt, 1.0), std::nullopt).changed.empty());
  EXPECT_TRUE(apply_retention(all, allennlp(-1, 1.0), std::nullopt).changed.empty());
  // N = 0 deletes even the newest: AllenNLP's explicit exception.
  auto none = apply_retention(all, allennlp(0, std::nullopt), "ckpt-0000000003-epoch3-end");
  EXPECT_EQ(none.changed.size(), 4u);
  EXPECT_TRUE(all.queue.empty());
  EXPECT_EQ(all.doomed.size(), 4u);
}

TEST(Retention, KeepForGoodNeedsStrictlyMoreThanKSeconds) {
  Ledger ledger = queued(2, 10);  // both saved 10 s after the reference time 0
  apply_retention(ledger, allennlp(1, 10.0), std::nullopt);
  EXPECT_TRUE(ledger.permanent.empty());  // 10 s is not more than 10 s
  EXPECT_EQ(ledger.doomed.size(), 1u);
  Ledger later = queued(2, 10.5);
  auto kept = apply_retention(later, allennlp(1, 10.0), std::nullopt);
  EXPECT_EQ(kept.decisions[0].reason,
            "kept: for good, one every 10 s (10 s after the previous one)");
  EXPECT_EQ(later.reference_time, 10.5);
  EXPECT_EQ(later.permanent.size(), 1u);
}

// The example of the issue: keep 10, keep one every 1 s, 30 saves with 2 s pauses before the
// saves of epochs 5, 18 and 26 leaves epochs 5, 18 and 20..29.
TEST(Retention, AllenNlpExampleThroughTheCheckpointer) {
  testing::TempDir dir;
  auto clock = std::make_shared<testing::FakeClock>();
  testing::LogRecorder log;
  auto options = testing::test_options(dir.path(), clock, log);
  options.num_serialized_models_to_keep = 10;
  options.keep_serialized_model_every_num_seconds = 1;
  Checkpointer checkpointer(options);
  testing::ToyTrainer trainer;
  for (int epoch = 0; epoch < 30; ++epoch) {
    if (epoch == 5 || epoch == 18 || epoch == 26) clock->advance(2);
    checkpointer.save_checkpoint(epoch, trainer);
  }
  std::vector<int64_t> expected = {5, 18};
  for (int epoch = 20; epoch < 30; ++epoch) expected.push_back(epoch);
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), expected);
  int permanent = 0;
  for (const auto& info : checkpointer.list_checkpoints()) permanent += info.permanent ? 1 : 0;
  EXPECT_EQ(permanent, 2);
}

}  // namespace
}  // namespace cairn::checkpoint
