// The save path's fast lanes give the same bytes and checksums as the plain ones: checksums
// computed on several threads, and the manifest's file hash computed beside the write.
#include <gtest/gtest.h>

#include <random>

#include "cairn/cairn.hpp"
#include "cairn/inspect.hpp"
#include "format/checksum.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

using testing::TempDir;

TEST(ParallelHashing, EachPieceHashesAsAlone) {
  std::mt19937 random(7);
  std::vector<std::byte> bytes(size_t{48} << 20);
  for (std::byte& byte : bytes) byte = static_cast<std::byte>(random());
  // Odd sizes, empty pieces, one piece much larger than the others: 1001 pieces in all.
  std::vector<std::span<const std::byte>> pieces;
  size_t offset = 0;
  for (int i = 0; i < 1000; ++i) {
    const size_t size = i % 97 == 0 ? 0 : random() % 30000 + 1;
    pieces.push_back(std::span(bytes).subspan(offset, size));
    offset += size;
  }
  pieces.push_back(std::span(bytes).subspan(offset));  // the rest: about 33 MiB
  const std::vector<uint64_t> hashes = format::xxh3_each(pieces);
  ASSERT_EQ(hashes.size(), pieces.size());
  for (size_t i = 0; i < pieces.size(); ++i) {
    ASSERT_EQ(hashes[i], format::xxh3(pieces[i])) << "piece " << i;
  }
  EXPECT_TRUE(format::xxh3_each({}).empty());
}

// A state large enough for every fast lane (several hashing threads, the file hash beside the
// write), with odd sizes and an odd count: the checkpoint verifies, byte for byte.
TEST(ParallelHashing, ALargeCheckpointVerifiesAndRestoresExactly) {
  TempDir dir;
  struct Large final : Trainer {
    CheckpointState get_checkpoint_state() override {
      State model = State::map();
      const std::vector<int64_t> sizes = {3 * (int64_t{1} << 20) + 1, 5, 7 * (int64_t{1} << 20) - 3,
                                          0, 9 * (int64_t{1} << 20) + 11, 1, 4099};
      for (size_t i = 0; i < sizes.size(); ++i) {
        model["w" + std::to_string(i)] =
            testing::patterned_tensor(DType::U8, {sizes[i]}, static_cast<uint32_t>(i + 3));
      }
      return {model, State::map()};
    }
  } trainer;
  Checkpointer checkpointer(testing::quiet_options(dir.path()));
  checkpointer.save_checkpoint(0, trainer);
  EXPECT_TRUE(verify_path(dir.path()).problems.empty());
  EXPECT_EQ(checkpointer.restore_checkpoint().model_state, trainer.get_checkpoint_state().model_state);
  // A flipped byte in the largest tensor is still found by the whole-file hash and the tensor's.
  const auto latest = checkpointer.find_latest_checkpoint();
  auto bytes = testing::read_bytes(latest->model);
  bytes[bytes.size() / 2] ^= std::byte{0x08};
  testing::write_bytes(latest->model, bytes);
  EXPECT_FALSE(verify_path(latest->dir).problems.empty());
}

}  // namespace
}  // namespace cairn
