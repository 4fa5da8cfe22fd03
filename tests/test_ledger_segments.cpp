// The ledger's segments (docs/format.md): the oldest entries of the queue and of the permanent
// list move into files of their own, which later saves never rewrite. They must read back
// exactly, roll through a last-N window, and be checked like the ledger itself.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "cairn/cairn.hpp"
#include "checkpoint/layout.hpp"
#include "retention/ledger_file.hpp"
#include "retention/ledger_segments.hpp"
#include "format/checksum.hpp"
#include "support/checkpointer_fixture.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class LedgerSegments : public testing::CheckpointerFixture {
 protected:
  LedgerSegments() { seconds_between_saves_ = 1; }
  checkpoint::Ledger ledger() { return checkpoint::read_ledger(local_storage(), dir_.path()).value(); }
  std::vector<std::string> segment_files() {
    return testing::entry_names(dir_ / checkpoint::kLedgerSegmentsDir);
  }
  // Rewrites retention.json through `change`, with its checksum made anew (a checksum, not a
  // secret: anyone can forge one).
  void forge(const std::function<void(nlohmann::ordered_json&)>& change) {
    const fs::path path = dir_ / checkpoint::kLedgerFile;
    std::ifstream in(path);
    auto json = nlohmann::ordered_json::parse(in);
    in.close();
    change(json);
    json.erase("ledger_xxh3");
    json["ledger_xxh3"] = format::to_hex16(format::xxh3(json.dump(2)));
    std::ofstream(path) << json.dump(2) << "\n";
  }
};

TEST_F(LedgerSegments, EveryCheckpointKeptReadsBackInOrder) {
  {
    Checkpointer checkpointer(options(std::nullopt));
    save_epochs(checkpointer, 0, 300);
  }
  const checkpoint::Ledger read = ledger();
  ASSERT_EQ(read.queue.size(), 300u);
  for (size_t i = 0; i < read.queue.size(); ++i) {
    EXPECT_EQ(checkpoint::parse_checkpoint_name(read.queue[i].name)->epoch, static_cast<int64_t>(i));
  }
  EXPECT_FALSE(read.segments.empty());
  EXPECT_EQ(segment_files().size(), read.segments.size());
  EXPECT_LE(read.segments.size(), 3u);  // 300 entries: 256 in segments (one after merges), 44 inline
  EXPECT_LT(checkpoint::sealed_entries(read, "queue"), 300u);
}

TEST_F(LedgerSegments, ALastNWindowRollsThroughTheSegments) {
  {
    Checkpointer checkpointer(options(150));
    save_epochs(checkpointer, 0, 500);
  }
  const checkpoint::Ledger read = ledger();
  ASSERT_EQ(read.queue.size(), 150u);
  EXPECT_EQ(read.queue.front().name.find("epoch350-"), 16u) << read.queue.front().name;
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()).size(), 150u);
  // Segments whose entries all left the queue are deleted; none is left behind.
  EXPECT_EQ(segment_files().size(), read.segments.size());
  EXPECT_LE(read.segments.size(), 3u);

  Checkpointer reopened(options(150));
  save_epochs(reopened, 500, 1);
  const auto listed = reopened.list_checkpoints();
  ASSERT_EQ(listed.size(), 150u);
  EXPECT_EQ(listed.front().epoch, 351);
  EXPECT_EQ(listed.back().epoch, 500);
}

TEST_F(LedgerSegments, ADamagedSegmentIsReportedAndNothingIsDeleted) {
  {
    Checkpointer checkpointer(options(std::nullopt));
    save_epochs(checkpointer, 0, 100);
  }
  ASSERT_FALSE(segment_files().empty());
  const fs::path segment = dir_ / checkpoint::kLedgerSegmentsDir / segment_files().front();
  {
    std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(40);
    file.put('#');
  }
  EXPECT_THROW(checkpoint::read_ledger(local_storage(), dir_.path()), CorruptDataError);

  Checkpointer checkpointer(options(std::nullopt));
  save_epochs(checkpointer, 100, 1);
  EXPECT_FALSE(log_.matching("ledger segment checksum mismatch").empty());
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()).size(), 101u);
  EXPECT_EQ(checkpointer.list_checkpoints().size(), 101u);
}

TEST_F(LedgerSegments, ASegmentNameThatIsNotOneIsRefused) {
  {
    Checkpointer checkpointer(options(std::nullopt));
    save_epochs(checkpointer, 0, 100);
  }
  const fs::path victim = dir_.path().parent_path() / "victim.json";
  std::ofstream(victim) << "precious";
  checkpoint::Ledger forged = ledger();
  ASSERT_FALSE(forged.segments.empty());
  forged.segments.front().file = "../../victim.json";
  checkpoint::write_ledger(local_storage(), dir_.path(), forged);  // a valid checksum

  EXPECT_THROW(checkpoint::read_ledger(local_storage(), dir_.path()), CorruptDataError);
  EXPECT_THROW(prune_directory(dir_.path(), {}, /*dry_run=*/false), CorruptDataError);
  Checkpointer checkpointer(options(std::nullopt));
  save_epochs(checkpointer, 100, 1);
  EXPECT_FALSE(log_.matching("not a segment file name").empty());
  EXPECT_TRUE(fs::exists(victim));
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()).size(), 101u);
  fs::remove(victim);
}

TEST_F(LedgerSegments, StrayFilesOfCairnsFolderGoAndAForeignFolderIsLeftAlone) {
  {
    Checkpointer checkpointer(options(std::nullopt));
    save_epochs(checkpointer, 0, 70);
  }
  const std::string stray = "queue-0000000000-0000000063-0123456789abcdef.json";
  std::ofstream(dir_ / checkpoint::kLedgerSegmentsDir / stray) << "left by a crash";
  {
    Checkpointer checkpointer(options(std::nullopt));
    save_epochs(checkpointer, 70, 1);
  }
  EXPECT_EQ(segment_files().size(), ledger().segments.size());

  TempDir other;
  fs::create_directories(other / checkpoint::kLedgerSegmentsDir);
  std::ofstream(other / checkpoint::kLedgerSegmentsDir / "notes.txt") << "mine";
  auto opts = options(std::nullopt);
  opts.serialization_dir = other.path();
  {
    Checkpointer checkpointer(opts);
    save_epochs(checkpointer, 0, 100);
  }
  const auto read = checkpoint::read_ledger(local_storage(), other.path()).value();
  EXPECT_TRUE(read.segments.empty());  // everything stays in retention.json
  EXPECT_EQ(read.queue.size(), 100u);
  EXPECT_EQ(testing::entry_names(other / checkpoint::kLedgerSegmentsDir),
            std::vector<std::string>{"notes.txt"});
}

TEST_F(LedgerSegments, FutureTimesInsideSegmentsAreClamped) {
  const double today = clock_->now();
  clock_->set_wall_clock(today + 365 * 86400.0);
  {
    Checkpointer checkpointer(options(std::nullopt));
    save_epochs(checkpointer, 0, 100);
  }
  ASSERT_FALSE(ledger().segments.empty());
  clock_->set_wall_clock(today);
  {
    Checkpointer checkpointer(options(std::nullopt));
    save_epochs(checkpointer, 100, 1);
  }
  EXPECT_FALSE(log_.matching("lie in the future").empty());
  const checkpoint::Ledger read = ledger();
  ASSERT_EQ(read.queue.size(), 101u);
  for (const auto& entry : read.queue) EXPECT_LE(entry.save_time, clock_->now()) << entry.name;
  EXPECT_EQ(segment_files().size(), read.segments.size());  // those written anew replaced
}

// A lost segment makes the ledger damaged; its rebuild must not delete what was kept for good
// (rebuilt into the queue, the last-N rule would have doomed all of them).
TEST_F(LedgerSegments, ALostSegmentDeletesNothingKeptForGood) {
  auto opts = options(3);
  opts.keep_serialized_model_every_num_seconds = 50;
  {
    Checkpointer checkpointer(opts);
    for (int64_t epoch = 0; epoch < 300; ++epoch) {
      clock_->advance(19);
      trainer_.step = epoch;
      checkpointer.save_checkpoint(epoch, trainer_);
    }
  }
  const checkpoint::Ledger before = ledger();
  ASSERT_GT(before.permanent.size(), 64u);
  for (const auto& file : segment_files()) {
    if (file.starts_with("permanent-")) fs::remove(dir_ / checkpoint::kLedgerSegmentsDir / file);
  }
  Checkpointer checkpointer(opts);
  clock_->advance(19);
  checkpointer.save_checkpoint(300, trainer_);
  EXPECT_FALSE(log_.matching("kept for good: the damaged ledger").empty());
  for (const auto& entry : before.permanent) {
    EXPECT_TRUE(fs::exists(dir_ / checkpoint::kCheckpointsDir / entry.name)) << entry.name;
  }
  EXPECT_EQ(ledger().queue.size(), 3u);
}

// Forged ledgers (checksums made anew) that the writer's lists cannot hold are damaged.
TEST_F(LedgerSegments, ForgedCountsNamesAndOrderAreRefused) {
  {
    Checkpointer checkpointer(options(std::nullopt));
    save_epochs(checkpointer, 0, 100);
  }
  const std::string pristine = [&] {
    std::ifstream in(dir_ / checkpoint::kLedgerFile);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  auto refused = [&](const std::function<void(nlohmann::ordered_json&)>& change) {
    std::ofstream(dir_ / checkpoint::kLedgerFile) << pristine;
    forge(change);
    try {
      checkpoint::read_ledger(local_storage(), dir_.path());
    } catch (const CorruptDataError& error) {
      return std::string(error.what());
    }
    return std::string("accepted");
  };
  using Json = nlohmann::ordered_json;
  EXPECT_NE(refused([](Json& json) { json["queue_left"] = -1.0; }).find("not an integer"),
            std::string::npos);
  EXPECT_NE(refused([](Json& json) { json["segments"][0]["first_seq"] = 1e300; }).find("not an integer"),
            std::string::npos);
  EXPECT_NE(refused([](Json& json) { json["next_seq"] = 1e300; }).find("not an integer"),
            std::string::npos);
  EXPECT_NE(refused([](Json& json) { json["keep_best_k"] = 1e300; }).find("not an integer"),
            std::string::npos);
  EXPECT_NE(refused([](Json& json) { json["segments"][0]["entries"] = 1u << 20; }).find("segment"),
            std::string::npos);
  EXPECT_NE(refused([](Json& json) { json["segments"][0]["last_seq"] = 64; }).find("segment file name"),
            std::string::npos);
  EXPECT_NE(refused([](Json& json) { json["retained"] = Json::array({json["queue"][0]}); }).find("twice"),
            std::string::npos);
  EXPECT_NE(refused([](Json& json) { json["pending"] = Json::array({json["queue"][0]}); }).find("twice"),
            std::string::npos);
  EXPECT_NE(refused([](Json& json) {
              auto& queue = json["queue"];
              std::swap(queue[0], queue[1]);
            }).find("save order"),
            std::string::npos);
  std::ofstream(dir_ / checkpoint::kLedgerFile) << pristine;
  EXPECT_EQ(ledger().queue.size(), 100u);

  // A segment that is a folder is damage too, not an I/O error at every save.
  const fs::path segment = dir_ / checkpoint::kLedgerSegmentsDir / ledger().segments.front().file;
  fs::remove(segment);
  fs::create_directory(segment);
  EXPECT_THROW(checkpoint::read_ledger(local_storage(), dir_.path()), CorruptDataError);
  Checkpointer checkpointer(options(std::nullopt));
  save_epochs(checkpointer, 100, 1);
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()).size(), 101u);
}

// keep_every_n_epochs can retain nearly every checkpoint; retained stayed in retention.json and
// was moved and decided again in full at every save (5.8 ms of CPU per save at 1,000 retained,
// 34.8 ms at 4,000). It goes into segments too, and stays put while what is retained stays.
TEST_F(LedgerSegments, RetainedByEveryNthEpochGoesIntoSegmentsToo) {
  auto opts = options(2);
  opts.keep_every_n_epochs = 1;
  {
    Checkpointer checkpointer(opts);
    save_epochs(checkpointer, 0, 300);
  }
  const checkpoint::Ledger read = ledger();
  ASSERT_EQ(read.retained.size(), 298u);
  EXPECT_GT(checkpoint::sealed_entries(read, "retained"), 234u);
  EXPECT_LT(fs::file_size(dir_ / checkpoint::kLedgerFile), 16u * 1024);  // 300 inline: 45 KB
  EXPECT_EQ(segment_files().size(), read.segments.size());

  // Every 2nd epoch now: the odd ones go, and the segments are written anew.
  opts.keep_every_n_epochs = 2;
  Checkpointer reopened(opts);
  save_epochs(reopened, 300, 1);
  const auto epochs = testing::epochs_on_disk(dir_.path());
  ASSERT_EQ(epochs.size(), 152u);  // 0, 2, ..., 298, then 299 and 300 in the queue
  for (size_t i = 0; i + 2 < epochs.size(); ++i) EXPECT_EQ(epochs[i], static_cast<int64_t>(2 * i));
  const checkpoint::Ledger after = ledger();
  EXPECT_EQ(after.retained.size(), 150u);
  EXPECT_EQ(segment_files().size(), after.segments.size());
}

}  // namespace
}  // namespace cairn
