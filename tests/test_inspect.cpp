// Inspection helpers: element decoding of every dtype, statistics, verify_path, prune.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "cairn/cairn.hpp"
#include "retention/ledger_file.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

template <typename T>
Tensor tensor_of(DType dtype, std::vector<T> values) {
  std::vector<std::byte> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return Tensor(dtype, {static_cast<int64_t>(values.size())}, std::move(bytes));
}

TEST(ElementAsDouble, DecodesEveryDtype) {
  EXPECT_EQ(element_as_double(tensor_of<int8_t>(DType::I8, {-5}), 0), -5);
  EXPECT_EQ(element_as_double(tensor_of<uint64_t>(DType::U64, {1ull << 40}), 0), 1099511627776.0);
  EXPECT_EQ(element_as_double(tensor_of<uint8_t>(DType::BOOL, {1}), 0), 1);
  // binary16: 1.0 = 0x3c00, -2.5 = 0xc100, smallest subnormal 0x0001 = 2^-24, inf 0x7c00
  Tensor f16 = tensor_of<uint16_t>(DType::F16, {0x3c00, 0xc100, 0x0001, 0x7c00, 0x7e00});
  EXPECT_EQ(element_as_double(f16, 0), 1.0);
  EXPECT_EQ(element_as_double(f16, 1), -2.5);
  EXPECT_EQ(element_as_double(f16, 2), std::ldexp(1.0, -24));
  EXPECT_TRUE(std::isinf(element_as_double(f16, 3)));
  EXPECT_TRUE(std::isnan(element_as_double(f16, 4)));
  // bfloat16: the top half of binary32; 1.0 = 0x3f80, -3.0 = 0xc040
  Tensor bf16 = tensor_of<uint16_t>(DType::BF16, {0x3f80, 0xc040});
  EXPECT_EQ(element_as_double(bf16, 0), 1.0);
  EXPECT_EQ(element_as_double(bf16, 1), -3.0);
  // F8_E4M3: 1.0 = 0x38, 448 (max) = 0x7e, NaN = 0x7f, smallest subnormal 0x01 = 2^-9
  Tensor e4m3 = tensor_of<uint8_t>(DType::F8_E4M3, {0x38, 0x7e, 0x7f, 0x01, 0xb8});
  EXPECT_EQ(element_as_double(e4m3, 0), 1.0);
  EXPECT_EQ(element_as_double(e4m3, 1), 448.0);
  EXPECT_TRUE(std::isnan(element_as_double(e4m3, 2)));
  EXPECT_EQ(element_as_double(e4m3, 3), std::ldexp(1.0, -9));
  EXPECT_EQ(element_as_double(e4m3, 4), -1.0);
  // F8_E5M2: 1.0 = 0x3c, 57344 (max) = 0x7b, inf = 0x7c
  Tensor e5m2 = tensor_of<uint8_t>(DType::F8_E5M2, {0x3c, 0x7b, 0x7c});
  EXPECT_EQ(element_as_double(e5m2, 0), 1.0);
  EXPECT_EQ(element_as_double(e5m2, 1), 57344.0);
  EXPECT_TRUE(std::isinf(element_as_double(e5m2, 2)));
  EXPECT_THROW(element_as_double(e5m2, 3), InvalidArgumentError);
}

TEST(TensorStats, CountsNanAndInfAndSkipsThem) {
  Tensor t = tensor_of<float>(DType::F32, {1.0f, -3.0f, NAN, INFINITY, 5.0f});
  TensorStats stats = tensor_stats(t);
  EXPECT_EQ(stats.min, -3.0);
  EXPECT_EQ(stats.max, 5.0);
  EXPECT_EQ(stats.mean, 1.0);
  EXPECT_EQ(stats.nan, 1u);
  EXPECT_EQ(stats.inf, 1u);
  EXPECT_EQ(stats.finite, 3u);
}

class InspectDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = testing::test_options(dir_.path(), clock_, log_);
    options.num_serialized_models_to_keep = 3;
    Checkpointer checkpointer(options);
    for (int epoch = 0; epoch < 4; ++epoch) {
      trainer_.step = epoch;
      checkpointer.save_checkpoint(epoch, trainer_, epoch == 0);
    }
  }
  testing::TempDir dir_;
  std::shared_ptr<testing::FakeClock> clock_ = std::make_shared<testing::FakeClock>();
  testing::LogRecorder log_;
  testing::ToyTrainer trainer_;
};

TEST_F(InspectDirectory, VerifyCollectsEveryProblem) {
  EXPECT_TRUE(verify_path(dir_.path()).ok());
  auto listing = list_directory(dir_.path());
  ASSERT_EQ(listing.checkpoints.size(), 3u);
  EXPECT_EQ(listing.latest, listing.checkpoints.back().name);
  // Two damaged files in two checkpoints, and a deleted one: three problems, all reported.
  auto flip = [](const std::filesystem::path& path) {
    auto bytes = testing::read_bytes(path);
    bytes[bytes.size() - 3] ^= std::byte{4};
    testing::write_bytes(path, bytes);
  };
  flip(listing.checkpoints[0].paths.model);
  flip(listing.checkpoints[1].paths.training_state);
  std::filesystem::remove(listing.checkpoints[2].paths.model);
  VerifyReport report = verify_path(dir_.path());
  ASSERT_EQ(report.problems.size(), 3u);
  EXPECT_EQ(report.problems[0].file, listing.checkpoints[0].paths.model);
  EXPECT_FALSE(report.problems[0].tensor.empty());
  EXPECT_EQ(report.problems[1].file, listing.checkpoints[1].paths.training_state);
  EXPECT_EQ(report.problems[2].what, "missing (incomplete checkpoint)");
}

// Issue 15 item 10: a folder the ledger records never vanishes from the listing.
TEST_F(InspectDirectory, ListsEveryFolderTheLedgerRecordsDamagedOnesWithTheReason) {
  const auto names = [&] {
    std::vector<std::string> all;
    for (const CheckpointInfo& info : list_directory(dir_.path()).checkpoints) {
      all.push_back(info.name);
    }
    return all;
  }();
  ASSERT_EQ(names.size(), 3u);
  // The oldest left pending (its writer died after publishing it), the next doomed (a reader held
  // it), the newest without its manifest.
  auto ledger = checkpoint::read_ledger(local_storage(), dir_.path());
  ASSERT_TRUE(ledger.has_value());
  ledger->pending = {ledger->queue[0]};
  ledger->doomed = {names[1]};
  ledger->queue = {ledger->queue[2]};
  checkpoint::write_ledger(local_storage(), dir_.path(), *ledger);
  const auto newest = dir_.path() / "checkpoints" / names[2];
  std::filesystem::remove(newest / "MANIFEST.json");

  const DirectoryListing listing = list_directory(dir_.path());
  EXPECT_TRUE(listing.checkpoints.empty());
  EXPECT_FALSE(listing.latest.has_value());
  ASSERT_EQ(listing.damaged.size(), 1u);
  EXPECT_EQ(listing.damaged[0].info.name, names[2]);
  EXPECT_EQ(listing.damaged[0].info.epoch, 3);
  EXPECT_EQ(listing.damaged[0].problem, "MANIFEST.json: missing (incomplete checkpoint)");
  ASSERT_EQ(listing.others.size(), 2u);
  EXPECT_EQ(listing.others[0].path.filename(), names[0]);
  EXPECT_EQ(listing.others[0].kind, "not yet recorded");
  EXPECT_EQ(listing.others[1].path.filename(), names[1]);
  EXPECT_EQ(listing.others[1].kind, "retired");
}

TEST_F(InspectDirectory, PruneUsesTheWritersOptionsOrOverrides) {
  // The writer kept 3 and applied that itself: nothing more to delete with its options.
  auto same = prune_directory(dir_.path(), {}, false);
  for (const auto& decision : same) EXPECT_TRUE(decision.keep) << decision.name;
  RetentionOverrides keep_one;
  keep_one.num_serialized_models_to_keep = 1;
  auto dry = prune_directory(dir_.path(), keep_one, true);
  EXPECT_EQ(std::count_if(dry.begin(), dry.end(), [](auto& d) { return !d.keep; }), 2);
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()).size(), 3u);  // a dry run deletes nothing
  prune_directory(dir_.path(), keep_one, false);
  EXPECT_EQ(testing::epochs_on_disk(dir_.path()), (std::vector<int64_t>{3}));
  // best survives pruning, and a later writer continues from the pruned ledger.
  EXPECT_EQ(Checkpointer(testing::test_options(dir_.path(), clock_, log_)).best_model_state(),
            testing::ToyTrainer::state_at(0).model_state);
  EXPECT_TRUE(verify_path(dir_.path()).ok());
}

}  // namespace
}  // namespace cairn
