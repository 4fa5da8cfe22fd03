// A State round-trips exactly through one safetensors file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <random>

#include "cairn/cairn.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"

namespace cairn {
namespace {

using testing::TempDir;

TEST(SafetensorsRoundTrip, EveryKindOfValueIsExact) {
  TempDir dir;
  State state = testing::every_kind_state();
  save_file(dir / "state.safetensors", state);
  State loaded = load_file(dir / "state.safetensors");
  EXPECT_EQ(loaded, state);
  // Spot-check what equality promises, in case equality itself were wrong.
  EXPECT_TRUE(std::isnan(loaded.at("nan").as_double()));
  EXPECT_TRUE(std::signbit(loaded.at("negative_zero").as_double()));
  EXPECT_EQ(std::bit_cast<uint64_t>(loaded.at("nan_payload").as_double()), 0x7ff4000000000123u);
  EXPECT_EQ(loaded.at("int").as_int(), -9'007'199'254'740'993);
  EXPECT_EQ(loaded.at("text").as_string(), "héllo, 世界 🚀");
  EXPECT_EQ(loaded.at("text_with_nul").as_string().size(), 3u);
  EXPECT_EQ(loaded.at("tensors").at("BF16").as_tensor().dtype(), DType::BF16);
  EXPECT_TRUE(loaded.at("tensors").at("scalar").as_tensor().shape().empty());
  EXPECT_EQ(loaded.at("a.b"), state.at("a.b"));
  EXPECT_EQ(loaded.at("a").at("b"), state.at("a").at("b"));
}

TEST(SafetensorsRoundTrip, RandomTrees) {
  TempDir dir;
  std::mt19937 random(42);
  for (int i = 0; i < 200; ++i) {
    State state = testing::random_state(random, 4);
    auto path = dir / ("random" + std::to_string(i) + ".safetensors");
    save_file(path, state);
    ASSERT_EQ(load_file(path), state) << "tree " << i;
  }
}

TEST(SafetensorsRoundTrip, TopLevelScalarsAndTensors) {
  TempDir dir;
  for (const State& state : {State(), State(7), State("x"), State::list(),
                             State(testing::patterned_tensor(DType::F16, {3}, 1))}) {
    save_file(dir / "top.safetensors", state);
    EXPECT_EQ(load_file(dir / "top.safetensors"), state);
  }
}

TEST(SafetensorsRoundTrip, TensorNamesAreDottedTreePaths) {
  TempDir dir;
  State state;
  state["optimizer"]["state"].push_back(State::map());
  state["optimizer"]["state"][0]["exp_avg"] = testing::patterned_tensor(DType::F32, {2}, 1);
  state["fc1"]["weight"] = testing::patterned_tensor(DType::F32, {2, 2}, 2);
  save_file(dir / "names.safetensors", state);
  auto file = SafetensorsFile::open(dir / "names.safetensors");
  std::vector<std::string> names;
  for (const TensorInfo& info : file.tensors()) names.push_back(info.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "optimizer.state.0.exp_avg"}));
}

TEST(SafetensorsRoundTrip, CollidingNamesGetUniqueSuffixes) {
  TempDir dir;
  State state = testing::every_kind_state();
  save_file(dir / "c.safetensors", state);
  auto file = SafetensorsFile::open(dir / "c.safetensors");
  std::set<std::string> names;
  for (const TensorInfo& info : file.tensors()) names.insert(info.name);
  EXPECT_TRUE(names.contains("a.b"));
  EXPECT_TRUE(names.contains("a.b~1"));
  EXPECT_TRUE(names.contains("a.b~2"));  // "a.b~1" was taken by the key "b~1"
  EXPECT_EQ(names.size(), file.tensors().size());
}

TEST(SafetensorsRoundTrip, OutputIsDeterministic) {
  TempDir dir;
  State state = testing::every_kind_state();
  save_file(dir / "one.safetensors", state, {{"note", "same"}});
  save_file(dir / "two.safetensors", state, {{"note", "same"}});
  EXPECT_EQ(testing::read_bytes(dir / "one.safetensors"),
            testing::read_bytes(dir / "two.safetensors"));
}

TEST(SafetensorsRoundTrip, UserMetadataRoundTripsAndCairnPrefixIsReserved) {
  TempDir dir;
  save_file(dir / "m.safetensors", State(1), {{"format", "pt"}, {"run", "é"}});
  auto file = SafetensorsFile::open(dir / "m.safetensors");
  EXPECT_EQ(file.metadata(), (Metadata{{"format", "pt"}, {"run", "é"}}));
  EXPECT_TRUE(file.has_tree());
  EXPECT_THROW(save_file(dir / "bad.safetensors", State(1), {{"cairn.tree", "x"}}),
               InvalidArgumentError);
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.safetensors"));
}

TEST(SafetensorsRoundTrip, InvalidUtf8IsRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  State bad_string;
  bad_string["s"] = std::string("\xff\xfe");
  EXPECT_THROW(save_file(dir / "s.safetensors", bad_string), InvalidArgumentError);
  State bad_key;
  bad_key[std::string("\xc3")] = testing::patterned_tensor(DType::U8, {1}, 1);
  EXPECT_THROW(save_file(dir / "k.safetensors", bad_key), InvalidArgumentError);
  EXPECT_THROW(save_file(dir / "m.safetensors", State(1), {{"k", "\xff"}}), InvalidArgumentError);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));  // no temporary file left behind
}

TEST(SafetensorsRoundTrip, TooDeepTreesAreRefusedOnSave) {
  TempDir dir;
  State deep = 1;
  for (int i = 0; i < 200; ++i) {
    State parent;
    parent["x"] = std::move(deep);
    deep = std::move(parent);
  }
  EXPECT_THROW(save_file(dir / "deep.safetensors", deep), InvalidArgumentError);
}

TEST(SafetensorsRead, ZeroCopyViewsTheMappingAndOutlivesTheFile) {
  TempDir dir;
  State state;
  state["w"] = testing::patterned_tensor(DType::F32, {1024}, 3);
  save_file(dir / "v.safetensors", state);
  Tensor tensor = load_file(dir / "v.safetensors").at("w").as_tensor();
  EXPECT_TRUE(tensor.owns_data());  // keeps the mapping alive
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor.data().data()) % 8, 0u);  // naturally aligned
  std::filesystem::remove(dir / "v.safetensors");  // an unlinked file stays mapped
  EXPECT_EQ(tensor, state.at("w").as_tensor());
}

TEST(SafetensorsRead, CopyOptionGivesOwnedMemory) {
  TempDir dir;
  State state;
  state["w"] = testing::patterned_tensor(DType::I64, {16}, 4);
  save_file(dir / "c.safetensors", state);
  State copied = load_file(dir / "c.safetensors", {.verify_checksums = true, .copy = true});
  EXPECT_EQ(copied, state);
}

TEST(SafetensorsRead, ChecksumMismatchIsCaughtUnlessTurnedOff) {
  TempDir dir;
  State state;
  state["weights"] = testing::patterned_tensor(DType::F32, {64}, 5);
  auto path = dir / "x.safetensors";
  save_file(path, state);
  auto bytes = testing::read_bytes(path);
  bytes[bytes.size() - 3] ^= std::byte{0x10};
  testing::write_bytes(path, bytes);
  try {
    load_file(path);
    FAIL() << "corruption not detected";
  } catch (const CorruptDataError& error) {
    EXPECT_EQ(std::string(error.what()), path.string() + ": tensor 'weights' checksum mismatch");
    EXPECT_EQ(error.path(), path);
  }
  for (bool copy : {false, true}) {
    EXPECT_THROW(load_file(path, {.verify_checksums = true, .copy = copy}), CorruptDataError);
    EXPECT_NO_THROW(load_file(path, {.verify_checksums = false, .copy = copy}));
  }
  EXPECT_THROW(SafetensorsFile::open(path, {.verify_checksums = false}).verify(),
               CorruptDataError);
}

TEST(SafetensorsRead, SingleTensorsAreVerifiedWhenRead) {
  TempDir dir;
  State state;
  state["good"] = testing::patterned_tensor(DType::U8, {8}, 1);
  state["bad"] = testing::patterned_tensor(DType::U8, {8}, 2);
  auto path = dir / "t.safetensors";
  save_file(path, state);
  auto file = SafetensorsFile::open(path);
  auto bytes = testing::read_bytes(path);
  // Both are U8 so sorted by name: "bad" comes first in the data section.
  bytes[bytes.size() - 16] ^= std::byte{1};
  testing::write_bytes(path, bytes);
  auto reopened = SafetensorsFile::open(path);  // opening reads only the header: no error yet
  EXPECT_EQ(reopened.tensor("good"), state.at("good").as_tensor());
  EXPECT_THROW(reopened.tensor("bad"), CorruptDataError);
  EXPECT_THROW(reopened.tensor("missing"), InvalidArgumentError);
}

TEST(SafetensorsWrite, ReplacesAtomicallyWithNormalPermissions) {
  TempDir dir;
  auto path = dir / "p.safetensors";
  save_file(path, State(1));
  save_file(path, State(2));  // replaces
  EXPECT_EQ(load_file(path), State(2));
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(info.st_mode & 0777, 0666 & ~mask);  // not a temp file's 0600
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(SafetensorsWrite, MissingDirectoryIsAnIoErrorNamingThePath) {
  TempDir dir;
  auto path = dir / "no" / "such" / "dir" / "f.safetensors";
  try {
    save_file(path, State(1));
    FAIL();
  } catch (const IoError& error) {
    EXPECT_EQ(error.error_code(), ENOENT);
    EXPECT_NE(std::string(error.what()).find((dir / "no" / "such" / "dir").string()),
              std::string::npos);
  }
  EXPECT_THROW(load_file(dir / "absent.safetensors"), IoError);
  EXPECT_THROW(load_file(dir.path()), IoError);  // a directory is not a file
}

}  // namespace
}  // namespace cairn
