// Regression tests for issue 15 (hardening): each is named after the fault it fixes, and
// failed before the fix. Real directories; internal headers only to forge a ledger.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <limits>
#include <thread>

#include "cairn/cairn.hpp"
#include "cairn/inspect.hpp"
#include "checkpoint/layout.hpp"
#include "retention/ledger_file.hpp"
#include "support/checkpointer_fixture.hpp"
#include "support/forwarding_storage.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::ToyTrainer;

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class HardeningTest : public testing::CheckpointerFixture {
 protected:
  TempDir elsewhere_;  // a user's folder outside the serialization directory
};

// Item 1: a pre-existing staging/ and best-versions/ were emptied by the first save.
TEST_F(HardeningTest, PreExistingStagingAndBestVersionsAreLeftAlone) {
  write_text(dir_ / "staging" / "r" / "app.tar", "x");
  write_text(dir_ / "best-versions" / "v1" / "notes.txt", "mine");
  {
    Checkpointer checkpointer(options());
    try {
      checkpointer.save_checkpoint(0, trainer_, /*is_best_so_far=*/true);
      FAIL() << "saved into a staging/ cairn did not create";
    } catch (const InvalidArgumentError& error) {
      EXPECT_NE(std::string(error.what()).find((dir_ / "staging").string()), std::string::npos)
          << error.what();
    }
  }
  EXPECT_EQ(read_text(dir_ / "staging" / "r" / "app.tar"), "x");

  // With staging/ moved away, the save commits; the foreign best-versions/ stays as it was.
  fs::rename(dir_ / "staging", elsewhere_ / "staging");
  Checkpointer checkpointer(options());
  checkpointer.save_checkpoint(0, trainer_, /*is_best_so_far=*/true);
  EXPECT_EQ(read_text(dir_ / "best-versions" / "v1" / "notes.txt"), "mine");
  EXPECT_EQ(testing::entry_names(dir_ / "best-versions"), std::vector<std::string>{"v1"});
  EXPECT_FALSE(log_.matching("best/ was not updated").empty());
  EXPECT_EQ(checkpointer.restore_checkpoint().model_state, ToyTrainer::state_at(0).model_state);
}

// Item 1: a symlinked staging/ was followed, and its target emptied (also on another
// filesystem; /dev/shm is a tmpfs on Debian).
TEST_F(HardeningTest, SymlinkedStagingOrBestVersionsIsNeverFollowed) {
  std::vector<fs::path> targets = {elsewhere_ / "victim"};
  std::optional<TempDir> other_filesystem;
  if (fs::is_directory("/dev/shm")) {
    other_filesystem.emplace("/dev/shm");
    targets.push_back(*other_filesystem / "victim");
  }
  for (const fs::path& victim : targets) {
    for (const char* folder : {"staging", "best-versions"}) {
      SCOPED_TRACE(std::string(folder) + " -> " + victim.string());
      TempDir dir;
      write_text(victim / "keep" / "data.bin", "precious");
      fs::create_symlink(victim, dir / folder);
      auto opts = testing::test_options(dir.path(), clock_, log_);
      {
        Checkpointer checkpointer(opts);
        try {
          checkpointer.save_checkpoint(0, trainer_, /*is_best_so_far=*/true);
        } catch (const InvalidArgumentError&) {  // staging/: refused, clearly
        }
        checkpointer.wait();
      }
      EXPECT_EQ(read_text(victim / "keep" / "data.bin"), "precious");
      EXPECT_TRUE(fs::is_symlink(dir / folder));
      fs::remove_all(victim);
    }
  }
}

// Item 2: doomed names were not checked; "../../victim" was deleted by the next writer and by
// `cairn prune`.
TEST_F(HardeningTest, DoomedNamesInTheLedgerAreChecked) {
  {
    Checkpointer checkpointer(options());
    save_epochs(checkpointer, 0, 2);
  }
  const fs::path victim = dir_.path().parent_path() / "victim";
  write_text(victim / "data.bin", "precious");
  auto ledger = checkpoint::read_ledger(local_storage(), dir_.path());
  ASSERT_TRUE(ledger.has_value());
  ledger->doomed = {"../../victim", "../victim"};
  checkpoint::write_ledger(local_storage(), dir_.path(), *ledger);  // a valid checksum

  EXPECT_THROW(prune_directory(dir_.path(), {}, /*dry_run=*/true), CorruptDataError);
  EXPECT_THROW(prune_directory(dir_.path(), {}, /*dry_run=*/false), CorruptDataError);
  EXPECT_EQ(read_text(victim / "data.bin"), "precious");

  Checkpointer checkpointer(options());
  save_epochs(checkpointer, 2, 1);
  EXPECT_EQ(read_text(victim / "data.bin"), "precious");
  EXPECT_FALSE(log_.matching("not a checkpoint name").empty());
  fs::remove_all(victim);
}

// Item 3: a symlinked (or hard-linked) cairn.lock was followed, and the target truncated.
TEST_F(HardeningTest, LinkedLockFileIsNeverWrittenThrough) {
  const fs::path victim = elsewhere_ / "victim.txt";
  write_text(victim, "precious");
  fs::create_directories(dir_.path());
  fs::create_symlink(victim, dir_ / "cairn.lock");
  {
    Checkpointer checkpointer(options());
    EXPECT_THROW(checkpointer.save_checkpoint(0, trainer_), IoError);
  }
  EXPECT_THROW(prune_directory(dir_.path(), {}, /*dry_run=*/false), IoError);
  EXPECT_EQ(read_text(victim), "precious");

  fs::remove(dir_ / "cairn.lock");
  fs::create_hard_link(victim, dir_ / "cairn.lock");
  Checkpointer checkpointer(options());
  EXPECT_THROW(checkpointer.save_checkpoint(0, trainer_), IoError);
  EXPECT_EQ(read_text(victim), "precious");
}

// The three attacks of item 1 to 3, against the one deletion guard itself.
TEST_F(HardeningTest, DeletionGuardRefusesWhatIsNotCairns) {
  Storage& storage = local_storage();
  write_text(elsewhere_ / "unmarked" / "a" / "data.bin", "precious");
  EXPECT_THROW(storage.remove_owned(elsewhere_ / "unmarked" / "a"), IoError);  // not marked

  write_text(dir_ / "owned" / kOwnerMarker, "");
  fs::create_symlink(elsewhere_ / "unmarked", dir_ / "link");
  write_text(elsewhere_ / "unmarked" / kOwnerMarker, "");                // even marked,
  EXPECT_THROW(storage.remove_owned(dir_ / "link" / "a"), IoError);       // not through a link
  EXPECT_THROW(storage.remove_owned(dir_ / "owned" / ".."), IoError);     // not a plain name
  EXPECT_EQ(read_text(elsewhere_ / "unmarked" / "a" / "data.bin"), "precious");

  // Inside a tree being removed, a link is removed, never followed.
  write_text(dir_ / "owned" / "tree" / "file", "ours");
  fs::create_symlink(elsewhere_ / "unmarked", dir_ / "owned" / "tree" / "link");
  storage.remove_owned(dir_ / "owned" / "tree");
  EXPECT_FALSE(fs::exists(dir_ / "owned" / "tree"));
  EXPECT_EQ(read_text(elsewhere_ / "unmarked" / "a" / "data.bin"), "precious");
  storage.remove_owned(dir_ / "owned" / "missing");  // nothing there: no error
}

// Item 5: a name with seq 9999999999 made the writer name checkpoints with 11 digits, which its
// own parser refused: valid checkpoints were deleted, restore found nothing.
TEST_F(HardeningTest, SequencePastTenDigitsIsAnErrorBeforeAnythingIsDeleted) {
  {
    Checkpointer checkpointer(options());
    save_epochs(checkpointer, 0, 2);
  }
  fs::create_directories(dir_ / "checkpoints" / "ckpt-9999999999-epoch0-end");
  Checkpointer checkpointer(options());
  trainer_.step = 5;
  EXPECT_THROW(checkpointer.save_checkpoint(5, trainer_), InvalidArgumentError);
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(checkpointer.list_checkpoints().size(), 2u);
  EXPECT_EQ(checkpointer.restore_checkpoint().model_state, ToyTrainer::state_at(1).model_state);
}

TEST_F(HardeningTest, LastSequenceNumberMakesAParsableName) {
  {
    Checkpointer checkpointer(options());
    save_epochs(checkpointer, 0, 1);
  }
  auto ledger = checkpoint::read_ledger(local_storage(), dir_.path());
  ledger->next_seq = checkpoint::kMaxSeq;
  checkpoint::write_ledger(local_storage(), dir_.path(), *ledger);
  Checkpointer checkpointer(options());
  save_epochs(checkpointer, 1, 1);
  ASSERT_EQ(checkpointer.list_checkpoints().size(), 2u);
  EXPECT_EQ(checkpointer.list_checkpoints().back().seq, checkpoint::kMaxSeq);
  EXPECT_THROW(save_epochs(checkpointer, 2, 1), InvalidArgumentError);
  EXPECT_EQ(checkpointer.list_checkpoints().size(), 2u);

  // A next_seq that would wrap around is a damaged ledger, never a negative name.
  ledger->next_seq = std::numeric_limits<int64_t>::max();
  checkpoint::write_ledger(local_storage(), dir_.path(), *ledger);
  EXPECT_THROW(checkpoint::read_ledger(local_storage(), dir_.path()), CorruptDataError);
  EXPECT_THROW(checkpoint::format_checkpoint_name({checkpoint::kMaxSeq + 1, 0, std::nullopt}),
               InvalidArgumentError);
}

// Item 7: deleting cairn.lock let a second writer start beside the first.
TEST_F(HardeningTest, DeletedLockFileStopsTheFirstWriter) {
  Checkpointer first(options(-1));
  save_epochs(first, 0, 1);
  fs::remove(dir_ / "cairn.lock");
  Checkpointer second(options(-1));
  save_epochs(second, 1, 1);
  const std::string ledger_before = read_text(dir_ / "retention.json");
  EXPECT_THROW(save_epochs(first, 2, 1), LockLostError);
  EXPECT_EQ(read_text(dir_ / "retention.json"), ledger_before);
  save_epochs(second, 3, 1);
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()), (std::vector<int64_t>{0, 1, 3}));
}

// Item 8: after the wall clock stepped back an hour, no timed save came for an hour.
TEST_F(HardeningTest, TimedSavesUseAMonotonicClock) {
  auto opts = options(-1);
  opts.model_save_interval = 100;
  Checkpointer checkpointer(opts);
  clock_->set_wall_clock(clock_->now() - 3600);
  clock_->advance(100);
  EXPECT_TRUE(checkpointer.maybe_save_checkpoint(trainer_, 0, 1));
  clock_->set_wall_clock(clock_->now() + 365 * 86400.0);  // a jump ahead is not a due save
  EXPECT_FALSE(checkpointer.maybe_save_checkpoint(trainer_, 0, 2));
}

// Item 8: a year-ahead clock, then corrected, left a future reference_time: nothing was kept
// for good for a year, across restarts.
TEST_F(HardeningTest, FutureTimesInTheLedgerAreClamped) {
  auto opts = options(1);
  opts.keep_serialized_model_every_num_seconds = 60;
  const double today = clock_->now();
  clock_->set_wall_clock(today + 365 * 86400.0);
  {
    Checkpointer checkpointer(opts);
    save_epochs(checkpointer, 0, 3);
  }
  clock_->set_wall_clock(today);
  Checkpointer checkpointer(opts);
  for (int64_t epoch = 3; epoch < 8; ++epoch) {
    clock_->advance(61);
    save_epochs(checkpointer, epoch, 1);
  }
  EXPECT_FALSE(log_.matching("lie in the future").empty());
  auto ledger = checkpoint::read_ledger(local_storage(), dir_.path());
  EXPECT_LE(ledger->reference_time, clock_->now());
  EXPECT_GE(ledger->permanent.size(), 3u);  // kept for good again, every 61 s
}

// Fails the creation of any file under best-versions' staging folders with ENOSPC while armed.
class FullDiskForBest final : public testing::ForwardingStorage {
 public:
  bool full = false;
  std::unique_ptr<WritableFile> create_file(const fs::path& path) override {
    check(path);
    return ForwardingStorage::create_file(path);
  }
  void hard_link(const fs::path& existing, const fs::path& link) override {
    check(link);
    ForwardingStorage::hard_link(existing, link);
  }

 private:
  void check(const fs::path& path) const {
    if (full && path.parent_path().filename().string().starts_with("best-")) {
      throw IoError("create", path, ENOSPC);
    }
  }
};

// Item 9: ENOSPC while updating best/ after the publish raised IoError: the caller was told the
// save failed although it was committed.
TEST_F(HardeningTest, FullDiskWhileUpdatingBestKeepsTheCommitAndRepairsLater) {
  FullDiskForBest storage;
  auto opts = options(3);
  opts.storage = &storage;
  Checkpointer checkpointer(opts);
  trainer_.step = 1;
  checkpointer.save_checkpoint(0, trainer_, /*is_best_so_far=*/true);
  storage.full = true;
  trainer_.step = 2;
  EXPECT_NO_THROW(checkpointer.save_checkpoint(1, trainer_, /*is_best_so_far=*/true));
  EXPECT_FALSE(log_.matching("is committed and restorable, but best/ was not updated").empty());
  EXPECT_EQ(checkpointer.restore_checkpoint().model_state, ToyTrainer::state_at(2).model_state);
  EXPECT_EQ(checkpointer.best_model_state(), ToyTrainer::state_at(1).model_state);
  storage.full = false;
  trainer_.step = 3;
  checkpointer.save_checkpoint(2, trainer_);
  EXPECT_EQ(checkpointer.best_model_state(), ToyTrainer::state_at(2).model_state);
}

// Item 12: a newline in the serialization directory's path made every save fail.
TEST_F(HardeningTest, NewlineInTheSerializationDirectoryPath) {
  auto opts = options();
  opts.serialization_dir = dir_ / "run\nwith newline";
  Checkpointer checkpointer(opts);
  trainer_.step = 4;
  checkpointer.save_checkpoint(0, trainer_);
  EXPECT_EQ(checkpointer.restore_checkpoint().model_state, ToyTrainer::state_at(4).model_state);
}

// Item 6: another thread writing a tensor during a synchronous save made checkpoints that failed
// their own checksums (the bytes were hashed, then read again by the write).
class WeightsInTheCallersMemory final : public Trainer {
 public:
  explicit WeightsInTheCallersMemory(std::vector<uint32_t>& weights) : weights_(weights) {}
  CheckpointState get_checkpoint_state() override {
    State model;
    model["w"] = Tensor::view(DType::U32, {static_cast<int64_t>(weights_.size())},
                              weights_.data(), weights_.size() * sizeof(uint32_t));
    return {std::move(model), {}};
  }

 private:
  std::vector<uint32_t>& weights_;
};

TEST_F(HardeningTest, TensorWrittenDuringASaveIsNeverPublishedWithABadChecksum) {
  std::vector<uint32_t> weights(size_t{12} << 20);  // 48 MiB: several of the writer's buffers
  WeightsInTheCallersMemory trainer(weights);
  std::atomic<bool> stop{false};
  std::thread training([&] {
    for (uint32_t value = 1; !stop.load(std::memory_order_relaxed); ++value) {
      for (size_t i = 0; i < weights.size(); i += 4096) {
        std::atomic_ref<uint32_t>(weights[i]).store(value, std::memory_order_relaxed);
      }
    }
  });
  Checkpointer checkpointer(options(std::nullopt));
  int published = 0, refused = 0;
  for (int64_t epoch = 0; epoch < 6; ++epoch) {
    try {
      checkpointer.save_checkpoint(epoch, trainer);
      ++published;
    } catch (const InvalidArgumentError& error) {
      ++refused;
      EXPECT_NE(std::string(error.what()).find("tensor 'w' changed while it was being saved"),
                std::string::npos) << error.what();
    }
  }
  stop = true;
  training.join();
  checkpointer.save_checkpoint(6, trainer);  // nothing changes the weights now
  EXPECT_GT(refused, 0) << "the training thread never ran during a save";
  EXPECT_EQ(checkpointer.list_checkpoints().size(), static_cast<size_t>(published + 1));
  const VerifyReport report = verify_path(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problems.front().file << ": "
                           << report.problems.front().what;
  EXPECT_TRUE(testing::entry_names(dir_ / "staging").empty());
  EXPECT_EQ(checkpointer.restore_checkpoint().model_state.at("w").as_tensor().data().size(),
            weights.size() * sizeof(uint32_t));
}

// Counts the bytes written into the ledger's files (retention.json, its temporaries and
// segments): what a save rewrites of the ledger.
class LedgerByteCounter final : public testing::ForwardingStorage {
 public:
  uint64_t bytes = 0;
  std::unique_ptr<WritableFile> create_file(const fs::path& path) override {
    auto file = ForwardingStorage::create_file(path);
    const bool ledger = path.filename().string().find(checkpoint::kLedgerFile) != std::string::npos ||
                        path.parent_path().filename() == checkpoint::kLedgerSegmentsDir;
    return ledger ? std::make_unique<Counted>(std::move(file), bytes) : std::move(file);
  }

 private:
  class Counted final : public WritableFile {
   public:
    Counted(std::unique_ptr<WritableFile> inner, uint64_t& bytes) : inner_(std::move(inner)), bytes_(bytes) {}
    void append(std::span<const std::span<const std::byte>> buffers) override {
      for (const auto& buffer : buffers) bytes_ += buffer.size();
      inner_->append(buffers);
    }
    void sync() override { inner_->sync(); }
    void close() override { inner_->close(); }

   private:
    std::unique_ptr<WritableFile> inner_;
    uint64_t& bytes_;
  };
};

// Item 15: keeping every checkpoint, a save rewrote the whole ledger (twice), so its cost grew
// with the number kept (4.6 ms at the start, 26 ms after 2,000). Ledger bytes written per save
// near 1,400 kept must be about those near 400 (not 3.7 times as many), and every checkpoint
// must still be known to a new writer.
TEST_F(HardeningTest, PerSaveWorkDoesNotGrowWithTheCheckpointsKept) {
  LedgerByteCounter storage;
  auto opts = options(std::nullopt);
  opts.storage = &storage;
  constexpr int64_t kSaves = 1536;
  std::vector<uint64_t> bytes_after;  // ledger bytes written so far, after each save
  {
    Checkpointer checkpointer(opts);
    for (int64_t epoch = 0; epoch < kSaves; ++epoch) {
      trainer_.step = epoch;
      checkpointer.save_checkpoint(epoch, trainer_);
      bytes_after.push_back(storage.bytes);
    }
  }
  // Windows of 256 saves, each ending where the segments' merges cascade.
  auto per_save = [&](int64_t end) {
    return static_cast<double>(bytes_after[end - 1] - bytes_after[end - 257]) / 256;
  };
  const double early = per_save(512);
  const double late = per_save(kSaves);
  RecordProperty("ledger_bytes_per_save_early", std::to_string(early));
  RecordProperty("ledger_bytes_per_save_late", std::to_string(late));
  EXPECT_LT(late, 1.5 * early) << "ledger bytes per save: " << early << " at 256..512 kept, "
                               << late << " at " << kSaves - 256 << ".." << kSaves;

  Checkpointer reopened(options(std::nullopt));
  const auto listed = reopened.list_checkpoints();
  ASSERT_EQ(listed.size(), static_cast<size_t>(kSaves));
  for (int64_t epoch = 0; epoch < kSaves; ++epoch) ASSERT_EQ(listed[epoch].epoch, epoch);
}

}  // namespace
}  // namespace cairn
