// Files from an independent safetensors writer (../shared/testdata) load in cairn with the
// expected dtypes, shapes and bytes (SHA-256 from expected.json), in header order.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cairn/cairn.hpp"
#include "support/expected_digests.hpp"
#include "support/temp_dir.hpp"

#ifndef CAIRN_TESTDATA_DIR
#error "CAIRN_TESTDATA_DIR must name the shared test data folder"
#endif

namespace cairn {
namespace {

nlohmann::json expected() {
  std::ifstream in(std::filesystem::path(CAIRN_TESTDATA_DIR) / "expected.json");
  return nlohmann::json::parse(in);
}

class Interop : public ::testing::TestWithParam<std::string> {};

TEST_P(Interop, LoadsWithExpectedDigests) {
  auto path = std::filesystem::path(CAIRN_TESTDATA_DIR) / GetParam();
  const auto want = expected().at(GetParam());
  for (bool copy : {false, true}) {
    State state = load_file(path, {.verify_checksums = true, .copy = copy});
    EXPECT_EQ(testing::compare_with_expected(state, want), std::vector<std::string>{})
        << (copy ? "copying" : "zero-copy");
  }
  // Header order is kept: it matches the order of the names in the header itself.
  auto file = SafetensorsFile::open(path);
  EXPECT_FALSE(file.has_tree());
  State state = file.state();
  size_t i = 0;
  for (const auto& [name, value] : state.items()) EXPECT_EQ(name, file.tensors()[i++].name);
}

TEST_P(Interop, CairnRewritesThemLosslessly) {
  testing::TempDir dir;
  auto path = std::filesystem::path(CAIRN_TESTDATA_DIR) / GetParam();
  auto original = SafetensorsFile::open(path);
  State state = original.state();
  save_file(dir / "rewritten.safetensors", state, original.metadata());
  auto rewritten = SafetensorsFile::open(dir / "rewritten.safetensors");
  EXPECT_EQ(rewritten.state(), state);
  EXPECT_EQ(rewritten.metadata(), original.metadata());
}

INSTANTIATE_TEST_SUITE_P(SharedTestdata, Interop,
                         ::testing::Values("mixed_dtypes.safetensors", "many_tensors.safetensors",
                                           "edge_cases.safetensors"),
                         [](const auto& param_info) {
                           return param_info.param.substr(0, param_info.param.find('.'));
                         });

TEST(Interop, MetadataOfAForeignFileIsExposed) {
  auto file = SafetensorsFile::open(std::filesystem::path(CAIRN_TESTDATA_DIR) /
                                    "mixed_dtypes.safetensors");
  EXPECT_FALSE(file.metadata().empty());
}

}  // namespace
}  // namespace cairn
