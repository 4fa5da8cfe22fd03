// Hostile sharded manifests: a layout altered (and its checksum redone, as an attacker or a bug
// would) to overflow, overlap, leave gaps, or point at pieces of another shape is refused as
// corrupt, naming the manifest; restore falls back and nothing crashes or reads out of bounds.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "cairn/cairn.hpp"
#include "checkpoint/layout.hpp"
#include "checkpoint/manifest.hpp"
#include "support/sharded_states.hpp"
#include "support/temp_dir.hpp"
#include "support/thread_ranks.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using checkpoint::Manifest;

constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();

// Two checkpoints (steps 0 and 1) saved by 2 thread ranks.
void make_run(const fs::path& dir) {
  testing::ThreadRanks group(2);
  for (const auto& error : group.run([&](int rank) {
         Checkpointer checkpointer(testing::rank_options(dir, group.rank(rank)));
         testing::ShardedTrainer trainer;
         trainer.rank = rank;
         trainer.ranks = 2;
         for (trainer.step = 0; trainer.step < 2; ++trainer.step) {
           checkpointer.save_checkpoint(trainer.step, trainer);
         }
       })) {
    if (error) std::rethrow_exception(error);
  }
}

// Rewrites the newest checkpoint's manifest after `alter`, with a valid checksum.
fs::path alter_newest(const fs::path& dir, const std::function<void(Manifest&)>& alter) {
  const fs::path newest = Checkpointer(testing::quiet_options(dir)).list_checkpoints().back().paths.dir;
  const fs::path path = newest / checkpoint::kManifestFile;
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  Manifest manifest = checkpoint::parse_manifest(text.str(), path);
  alter(manifest);
  std::ofstream(path, std::ios::trunc) << checkpoint::render_manifest(manifest);
  return path;
}

class HostileLayout : public ::testing::TestWithParam<std::pair<const char*, std::function<void(Manifest&)>>> {};

TEST_P(HostileLayout, IsRefusedAndRestoreFallsBack) {
  testing::TempDir dir;
  make_run(dir.path());
  const fs::path manifest = alter_newest(dir.path(), GetParam().second);
  testing::LogRecorder log;
  CheckpointerOptions options = testing::quiet_options(dir.path());
  options.logger = log.logger();
  Checkpointer single(options);
  const CheckpointState restored = single.restore_checkpoint();
  ASSERT_FALSE(restored.training_state.is_null());
  EXPECT_EQ(restored.training_state.at("global_step").as_int(), 0);
  const auto warnings = log.matching("skipping checkpoint");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(manifest.string() + ": manifest: "), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find(GetParam().first), std::string::npos) << warnings[0];
  EXPECT_FALSE(verify_path(dir.path()).ok());
}


INSTANTIATE_TEST_SUITE_P(
    Sharded, HostileLayout,
    ::testing::Values(
        std::pair<const char*, std::function<void(Manifest&)>>{
            "lies outside the global shape",
            [](Manifest& m) { m.sharded[0].pieces[1].offsets[0] = kHuge; }},
        std::pair<const char*, std::function<void(Manifest&)>>{
            "its global shape is too large",
            [](Manifest& m) { m.sharded[0].global_shape = {kHuge, kHuge}; }},
        std::pair<const char*, std::function<void(Manifest&)>>{
            "overlap", [](Manifest& m) { m.sharded[1].pieces[1].offsets = m.sharded[1].pieces[0].offsets; }},
        std::pair<const char*, std::function<void(Manifest&)>>{
            "the pieces cover", [](Manifest& m) { m.sharded[1].pieces.pop_back(); }},
        std::pair<const char*, std::function<void(Manifest&)>>{
            "the manifest says",  // a piece pointing at another tensor of the file
            [](Manifest& m) { std::swap(m.sharded[0].pieces[0].tensor, m.sharded[1].pieces[0].tensor); }},
        std::pair<const char*, std::function<void(Manifest&)>>{
            "must start with model_state or training_state",
            [](Manifest& m) { m.sharded[0].path[0] = "elsewhere"; }},
        std::pair<const char*, std::function<void(Manifest&)>>{
            "unknown dtype", [](Manifest& m) { m.sharded[0].dtype = "F128"; }}));

}  // namespace
}  // namespace cairn
