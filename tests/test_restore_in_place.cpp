// Restoring in place: tensors the caller already has (writable views) are overwritten with the
// saved bytes, verified, and no new memory is made for them; everything else restores as usual.
#include <gtest/gtest.h>

#include <deque>

#include "cairn/cairn.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

using testing::TempDir;
using testing::ToyTrainer;

// Memory the test owns, shaped like a State: every tensor becomes a writable view of a buffer
// filled with a sentinel byte, so a test sees which ones were written.
class Targets {
 public:
  static constexpr std::byte kSentinel{0xAB};

  State shaped_like(const State& state) {
    switch (state.kind()) {
      case State::Kind::Tensor: {
        const Tensor& tensor = state.as_tensor();
        auto& buffer = buffers_.emplace_back(tensor.nbytes(), kSentinel);
        return Tensor::writable_view(tensor.dtype(), tensor.shape(), buffer.data(), buffer.size());
      }
      case State::Kind::Map: {
        State map = State::map();
        for (const auto& [key, value] : state.items()) map[key] = shaped_like(value);
        return map;
      }
      case State::Kind::List: {
        State list = State::list();
        for (const State& element : state.elements()) list.push_back(shaped_like(element));
        return list;
      }
      default: return state;
    }
  }
  CheckpointState shaped_like(const CheckpointState& state) {
    return {shaped_like(state.model_state), shaped_like(state.training_state)};
  }

 private:
  std::deque<std::vector<std::byte>> buffers_;  // a deque: growing never moves a buffer
};

bool views(const State& state, const State& target) {
  return state.as_tensor().data().data() == target.as_tensor().data().data();
}

TEST(LoadFileInto, MatchingWritableTensorsAreFilledInPlaceAndTheRestIsRead) {
  TempDir dir;
  State saved = State::map();
  saved["a"] = testing::patterned_tensor(DType::F32, {3, 4}, 1);
  saved["nested"]["b"] = testing::patterned_tensor(DType::I64, {5}, 2);
  saved["c"] = testing::patterned_tensor(DType::U8, {7}, 3);
  saved["d"] = testing::patterned_tensor(DType::F16, {2}, 4);
  saved["count"] = 12;
  save_file(dir / "f.safetensors", saved);

  Targets memory;
  State into = memory.shaped_like(saved);
  into["c"] = memory.shaped_like(State(testing::patterned_tensor(DType::U8, {8}, 0)));  // shape differs
  into["d"] = testing::patterned_tensor(DType::F16, {2}, 9);  // same shape, but not writable
  const std::vector<std::byte> read_only_before(into["d"].as_tensor().data().begin(),
                                                into["d"].as_tensor().data().end());

  const State restored = load_file_into(dir / "f.safetensors", into);
  EXPECT_EQ(restored, saved);
  EXPECT_TRUE(views(restored.at("a"), into.at("a")));
  EXPECT_TRUE(views(restored.at("nested").at("b"), into.at("nested").at("b")));
  EXPECT_EQ(into.at("a").as_tensor(), saved.at("a").as_tensor());
  EXPECT_FALSE(views(restored.at("c"), into.at("c")));
  for (std::byte byte : into.at("c").as_tensor().data()) ASSERT_EQ(byte, Targets::kSentinel);
  EXPECT_FALSE(views(restored.at("d"), into.at("d")));
  EXPECT_TRUE(std::equal(read_only_before.begin(), read_only_before.end(),
                         into.at("d").as_tensor().data().begin()));
}

// Sizes around the read chunk (256 KiB) and odd ones, with odd tensor counts.
TEST(LoadFileInto, SizesAcrossReadChunksRoundTrip) {
  TempDir dir;
  State saved = State::map();
  const std::vector<int64_t> sizes = {0, 1, 13, 262143, 262144, 262145, 3 * 262144 + 13};
  for (size_t i = 0; i < sizes.size(); ++i) {
    saved["t" + std::to_string(i)] =
        testing::patterned_tensor(DType::U8, {sizes[i]}, static_cast<uint32_t>(i + 1));
  }
  save_file(dir / "f.safetensors", saved);
  Targets memory;
  State into = memory.shaped_like(saved);
  EXPECT_EQ(load_file_into(dir / "f.safetensors", into), saved);
  for (size_t i = 0; i < sizes.size(); ++i) {
    const std::string name = "t" + std::to_string(i);
    EXPECT_EQ(into.at(name).as_tensor(), saved.at(name).as_tensor()) << name;
  }
}

TEST(LoadFileInto, AFlippedByteIsReportedNamingTheFile) {
  TempDir dir;
  State saved = State::map();
  saved["big"] = testing::patterned_tensor(DType::F32, {100000}, 5);
  save_file(dir / "f.safetensors", saved);
  auto bytes = testing::read_bytes(dir / "f.safetensors");
  bytes[bytes.size() - 1000] ^= std::byte{0x01};
  testing::write_bytes(dir / "f.safetensors", bytes);
  Targets memory;
  const State into = memory.shaped_like(saved);
  try {
    load_file_into(dir / "f.safetensors", into);
    FAIL() << "no error";
  } catch (const CorruptDataError& error) {
    EXPECT_NE(std::string(error.what()).find("f.safetensors"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("'big' checksum mismatch"), std::string::npos)
        << error.what();
  }
}

TEST(RestoreCheckpointInto, FillsTheTrainersMemoryAndFallsBackPastADamagedNewest) {
  TempDir dir;
  Checkpointer checkpointer(testing::quiet_options(dir.path(), -1));
  ToyTrainer trainer;
  trainer.step = 1;
  checkpointer.save_checkpoint(0, trainer);
  trainer.step = 2;
  checkpointer.save_checkpoint(1, trainer);

  Targets memory;
  CheckpointState into = memory.shaped_like(ToyTrainer::state_at(0));
  CheckpointState restored = checkpointer.restore_checkpoint_into(into);
  EXPECT_EQ(restored.model_state, ToyTrainer::state_at(2).model_state);
  EXPECT_EQ(into.model_state.at("fc1.weight").as_tensor(),
            ToyTrainer::state_at(2).model_state.at("fc1.weight").as_tensor());
  EXPECT_TRUE(views(restored.model_state.at("fc2.weight"), into.model_state.at("fc2.weight")));
  const State& slot = restored.training_state.at("optimizer").at("state").at("1");
  EXPECT_TRUE(views(slot.at("exp_avg"),
                    into.training_state.at("optimizer").at("state").at("1").at("exp_avg")));
  EXPECT_EQ(slot.at("exp_avg").as_tensor(),
            ToyTrainer::state_at(2).training_state.at("optimizer").at("state").at("1").at("exp_avg").as_tensor());
  EXPECT_EQ(restored.training_state.at("epoch").as_int(), 1);

  // The newest model file's last tensor is damaged: its earlier tensors may already be in the
  // targets, but the fallback overwrites every one with the older checkpoint's bytes.
  const auto newest = checkpointer.find_latest_checkpoint();
  auto bytes = testing::read_bytes(newest->model);
  bytes[bytes.size() - 3] ^= std::byte{0x40};
  testing::write_bytes(newest->model, bytes);
  restored = checkpointer.restore_checkpoint_into(into);
  EXPECT_EQ(restored.model_state, ToyTrainer::state_at(1).model_state);
  const State older = ToyTrainer::state_at(1).model_state;
  for (const auto& [name, value] : older.items()) {
    EXPECT_EQ(into.model_state.at(name).as_tensor(), value.as_tensor()) << name;
    EXPECT_TRUE(views(restored.model_state.at(name), into.model_state.at(name))) << name;
  }
  EXPECT_EQ(restored.training_state.at("epoch").as_int(), 0);
}

TEST(RestoreCheckpointInto, NothingSavedLeavesTheTargetsAlone) {
  TempDir dir;
  Checkpointer checkpointer(testing::quiet_options(dir / "absent"));
  Targets memory;
  CheckpointState into = memory.shaped_like(ToyTrainer::state_at(3));
  const CheckpointState restored = checkpointer.restore_checkpoint_into(into);
  EXPECT_TRUE(restored.model_state.is_null());
  for (std::byte byte : into.model_state.at("fc1.bias").as_tensor().data()) {
    ASSERT_EQ(byte, Targets::kSentinel);
  }
}

}  // namespace
}  // namespace cairn
