// An independent check of cairn's output against the public safetensors spec, written from the
// spec alone (no cairn reader code): length prefix, JSON header starting with '{', padding with
// spaces to a multiple of 8, entries with exactly dtype/shape/data_offsets, data contiguous from
// offset 0 to the end of the file, widest dtype first then by name, natural alignment.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "cairn/cairn.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"

namespace cairn {
namespace {

const std::map<std::string, size_t> kSpecDtypeSizes = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"U16", 2},  {"I16", 2},     {"U32", 4},     {"I32", 4},
    {"U64", 8},  {"I64", 8}, {"F16", 2}, {"BF16", 2}, {"F32", 4},     {"F64", 8},     {"F8_E4M3", 1},
    {"F8_E5M2", 1}};

void check_against_spec(const std::vector<std::byte>& file) {
  ASSERT_GE(file.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(file[i]);
  ASSERT_LE(8 + n, file.size());
  std::string header(reinterpret_cast<const char*>(file.data()) + 8, n);
  ASSERT_EQ(header.front(), '{');
  EXPECT_EQ((8 + n) % 8, 0u) << "data section not 8-aligned";
  size_t json_end = header.find_last_not_of(' ');
  ASSERT_EQ(header[json_end], '}');
  auto json = nlohmann::ordered_json::parse(header.substr(0, json_end + 1));
  ASSERT_TRUE(json.is_object());

  struct Entry {
    std::string name;
    size_t width;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, value] : json.items()) {
    if (name == "__metadata__") {
      for (const auto& [key, text] : value.items()) EXPECT_TRUE(text.is_string()) << key;
      continue;
    }
    ASSERT_EQ(value.size(), 3u) << name;
    std::string dtype = value.at("dtype").get<std::string>();
    ASSERT_TRUE(kSpecDtypeSizes.contains(dtype)) << dtype;
    size_t width = kSpecDtypeSizes.at(dtype);
    uint64_t count = 1;
    for (const auto& dim : value.at("shape")) count *= dim.get<uint64_t>();
    uint64_t begin = value.at("data_offsets")[0].get<uint64_t>();
    uint64_t end = value.at("data_offsets")[1].get<uint64_t>();
    EXPECT_EQ(end - begin, count * width) << name;
    EXPECT_EQ(begin % width, 0u) << name << " is not naturally aligned";
    entries.push_back({name, width, begin, end});
  }
  // Header order is data order here; check contiguity and the widest-first, then-by-name order.
  uint64_t covered = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].begin, covered) << entries[i].name;
    covered = entries[i].end;
    if (i > 0) {
      const Entry& before = entries[i - 1];
      EXPECT_TRUE(before.width > entries[i].width ||
                  (before.width == entries[i].width && before.name < entries[i].name))
          << before.name << " before " << entries[i].name;
    }
  }
  EXPECT_EQ(8 + n + covered, file.size()) << "bytes after the last tensor";
}

TEST(SafetensorsSpec, CairnOutputFollowsTheSpec) {
  testing::TempDir dir;
  std::mt19937 random(7);
  std::vector<State> states = {testing::every_kind_state(), State::map(), State(1)};
  for (int i = 0; i < 50; ++i) states.push_back(testing::random_state(random, 3));
  for (size_t i = 0; i < states.size(); ++i) {
    auto path = dir / ("s" + std::to_string(i) + ".safetensors");
    save_file(path, states[i], {{"origin", "spec test"}});
    SCOPED_TRACE("state " + std::to_string(i));
    check_against_spec(testing::read_bytes(path));
  }
}

}  // namespace
}  // namespace cairn
