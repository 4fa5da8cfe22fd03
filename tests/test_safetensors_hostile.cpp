// The reader refuses malformed and hostile files with a CorruptDataError naming the file and the
// problem, and never crashes, hangs or allocates by an unchecked number (run under ASan too).
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "cairn/cairn.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"

namespace cairn {
namespace {

using testing::TempDir;

std::vector<std::byte> raw_file(const std::string& header, size_t data_bytes,
                                std::optional<uint64_t> declared_length = std::nullopt) {
  uint64_t length = declared_length.value_or(header.size());
  std::vector<std::byte> bytes(8);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::byte>((length >> (8 * i)) & 0xff);
  for (char c : header) bytes.push_back(static_cast<std::byte>(c));
  bytes.resize(bytes.size() + data_bytes, std::byte{0x5a});
  return bytes;
}

class Hostile : public ::testing::Test {
 protected:
  // Loads `bytes` and returns the CorruptDataError's message ("" if it loaded).
  std::string refusal(const std::vector<std::byte>& bytes) {
    auto path = dir_ / "hostile.safetensors";
    testing::write_bytes(path, bytes);
    try {
      load_file(path);
    } catch (const CorruptDataError& error) {
      std::string message = error.what();
      EXPECT_EQ(message.rfind(path.string() + ": ", 0), 0u) << message;  // names the file
      return message;
    }
    return "";
  }
  std::string refusal(const std::string& header, size_t data_bytes = 0) {
    return refusal(raw_file(header, data_bytes));
  }

  TempDir dir_;
};

#define EXPECT_REFUSED(call, fragment)                                       \
  do {                                                                       \
    std::string message = (call);                                            \
    EXPECT_NE(message.find(fragment), std::string::npos)                     \
        << "expected a refusal mentioning \"" << (fragment) << "\", got \"" \
        << message << "\"";                                                  \
  } while (0)

TEST_F(Hostile, TruncatedLengthPrefix) {
  EXPECT_REFUSED(refusal(std::vector<std::byte>(5)), "too short");
  EXPECT_REFUSED(refusal(std::vector<std::byte>()), "too short");
}

TEST_F(Hostile, HugeHeaderLengthIsRefusedBeforeAllocating) {
  EXPECT_REFUSED(refusal(raw_file("{}", 0, uint64_t{1} << 62)), "exceeds the limit");
  EXPECT_REFUSED(refusal(raw_file("{}", 0, ~uint64_t{0})), "exceeds the limit");
  EXPECT_REFUSED(refusal(raw_file("{}", 0, 100'000'001)), "exceeds the limit");
}

TEST_F(Hostile, HeaderLengthPastTheEnd) {
  EXPECT_REFUSED(refusal(raw_file("{}", 0, 1000)), "truncated");
}

TEST_F(Hostile, HeaderMustBeAJsonObjectStartingWithBrace) {
  EXPECT_REFUSED(refusal(" {}"), "does not start with '{'");
  EXPECT_REFUSED(refusal("[]"), "does not start with '{'");
  EXPECT_REFUSED(refusal(""), "does not start with '{'");
  EXPECT_REFUSED(refusal("{"), "not valid JSON");
  EXPECT_REFUSED(refusal("{} x"), "not valid JSON");
  EXPECT_REFUSED(refusal("{\"a\":1,}"), "not valid JSON");
}

TEST_F(Hostile, InvalidUtf8) {
  EXPECT_REFUSED(refusal("{\"\xff\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}"),
                 "not valid JSON");
  EXPECT_REFUSED(refusal("{\"__metadata__\":{\"k\":\"\xc3\x28\"}}"), "not valid JSON");
}

TEST_F(Hostile, DeeplyNestedJson) {
  std::string deep = "{\"__metadata__\":{\"k\":" + std::string(100000, '[') +
                     std::string(100000, ']') + "}}";
  EXPECT_REFUSED(refusal(deep), "nested deeper");
}

TEST_F(Hostile, DuplicateNames) {
  EXPECT_REFUSED(refusal("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                         "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                         2),
                 "duplicate key \"a\"");
}

TEST_F(Hostile, BadTensorEntries) {
  auto entry = [](const std::string& body) { return "{\"t\":" + body + "}"; };
  EXPECT_REFUSED(refusal(entry("{\"dtype\":\"F36\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4),
                 "unknown dtype");
  EXPECT_REFUSED(refusal(entry("{\"shape\":[1],\"data_offsets\":[0,4]}"), 4), "missing field");
  EXPECT_REFUSED(refusal(entry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}"),
                         4),
                 "unexpected field");
  EXPECT_REFUSED(refusal(entry("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), 4),
                 "not a non-negative integer");
  EXPECT_REFUSED(refusal(entry("{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}"), 4),
                 "not a non-negative integer");
  EXPECT_REFUSED(refusal(entry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), 4),
                 "not a non-negative integer");
  EXPECT_REFUSED(refusal(entry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}"), 4),
                 "begin after end");
  EXPECT_REFUSED(refusal(entry("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}"), 4),
                 "not [begin, end]");
  EXPECT_REFUSED(refusal(entry("[1,2]"), 0), "not a JSON object");
  EXPECT_REFUSED(refusal("{\"__metadata__\":{\"k\":1}}"), "is not a string");
  EXPECT_REFUSED(refusal("{\"__metadata__\":[]}"), "not a JSON object");
}

TEST_F(Hostile, ShapeAndSizeMismatches) {
  auto entry = [](const std::string& shape, const std::string& offsets) {
    return "{\"t\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
  };
  EXPECT_REFUSED(refusal(entry("[2]", "[0,4]"), 4), "needs 8 bytes");
  // A billion elements backed by four bytes: refused without allocating anything.
  EXPECT_REFUSED(refusal(entry("[1000000000]", "[0,4]"), 4), "needs 4000000000 bytes");
  // Shapes whose product overflows 64 bits.
  EXPECT_REFUSED(refusal(entry("[4294967296,4294967296,16]", "[0,4]"), 4), "overflows");
  EXPECT_REFUSED(refusal(entry("[18446744073709551615]", "[0,4]"), 4), "too large");
  EXPECT_REFUSED(refusal(entry("[99999999999999999999999]", "[0,4]"), 4),
                 "not a non-negative integer");
}

TEST_F(Hostile, GapsOverlapsTruncationAndTrailingBytes) {
  auto two = [](const std::string& a, const std::string& b) {
    return "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":" + a +
           "},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":" + b + "}}";
  };
  EXPECT_REFUSED(refusal(two("[0,4]", "[2,6]"), 6), "overlaps");
  EXPECT_REFUSED(refusal(two("[0,4]", "[0,4]"), 4), "overlaps");
  EXPECT_REFUSED(refusal(two("[0,4]", "[6,10]"), 10), "gap of 2 bytes");
  EXPECT_REFUSED(refusal(two("[4,8]", "[8,12]"), 12), "gap of 4 bytes");
  EXPECT_REFUSED(refusal(two("[0,4]", "[4,8]"), 7), "truncated");
  EXPECT_REFUSED(refusal(two("[0,4]", "[4,8]"), 9), "1 trailing bytes");
  EXPECT_REFUSED(refusal(two("[0,4]", "[18446744073709551611,18446744073709551615]"), 8),
                 "too large");
  EXPECT_REFUSED(refusal("{}", 3), "3 trailing bytes");
}

TEST_F(Hostile, TruncationAnywhereInACairnFile) {
  State state = testing::every_kind_state();
  auto good = dir_ / "good.safetensors";
  save_file(good, state);
  auto bytes = testing::read_bytes(good);
  for (size_t size = 0; size < bytes.size(); size += (size < 64 ? 1 : 37)) {
    std::vector<std::byte> truncated(bytes.begin(), bytes.begin() + static_cast<long>(size));
    EXPECT_NE(refusal(truncated), "") << "truncated to " << size << " bytes was accepted";
  }
}

TEST_F(Hostile, TreeThatPointsAtMissingTensorsOrIsMalformed) {
  // Build a valid cairn file, then rewrite its tree and fix the digest as an attacker would.
  auto with_tree = [&](const std::string& tree) {
    return "{\"__metadata__\":{\"cairn.format\":\"1\",\"cairn.tree\":" +
                              nlohmann::json(tree).dump() + ",\"cairn.xxh3\":\"{}\"," +
                              "\"cairn.header_xxh3\":\"0000000000000000\"}}";
  };
  // A digest mismatch is the first line of defence:
  EXPECT_REFUSED(refusal(with_tree("{\"tensor\":\"ghost\"}")), "header digest mismatch");
  // Without digest checks, the tree itself is still validated.
  auto path = dir_ / "tree.safetensors";
  testing::write_bytes(path, raw_file(with_tree("{\"tensor\":\"ghost\"}"), 0));
  try {
    load_file(path, {.verify_checksums = false});
    FAIL();
  } catch (const CorruptDataError& error) {
    EXPECT_NE(std::string(error.what()).find("'ghost', which is missing"), std::string::npos)
        << error.what();
  }
  for (const std::string& tree :
       {std::string("{\"bogus\":1}"), std::string("{\"f64\":\"xyz\"}"),
        std::string("{\"map\":[[1,2]]}"), std::string("{\"map\":[[\"k\",1],[\"k\",2]]}"),
        std::string("1.5"), std::string("18446744073709551615"), std::string("[") ,
        std::string(3000, '[') + std::string(3000, ']')}) {
    testing::write_bytes(path, raw_file(with_tree(tree), 0));
    EXPECT_THROW(load_file(path, {.verify_checksums = false}), CorruptDataError) << tree;
  }
}

TEST_F(Hostile, MissingOrUnknownCairnKeys) {
  EXPECT_REFUSED(refusal("{\"__metadata__\":{\"cairn.format\":\"1\"}}"), "metadata lacks");
  EXPECT_REFUSED(refusal("{\"__metadata__\":{\"cairn.format\":\"1\",\"cairn.tree\":\"null\","
                         "\"cairn.xxh3\":\"{}\",\"cairn.header_xxh3\":\"0\",\"cairn.zzz\":\"\"}}"),
                 "unknown cairn metadata key");
  EXPECT_REFUSED(refusal("{\"__metadata__\":{\"cairn.format\":\"9\",\"cairn.tree\":\"null\","
                         "\"cairn.xxh3\":\"{}\",\"cairn.header_xxh3\":\"0\"}}"),
                 "unsupported cairn format version");
}

TEST_F(Hostile, OddButValidFilesLoad) {
  auto load = [&](const std::vector<std::byte>& bytes) {
    testing::write_bytes(dir_ / "odd.safetensors", bytes);
    return load_file(dir_ / "odd.safetensors");
  };
  EXPECT_EQ(load(raw_file("{}", 0)), State::map());                          // no tensors
  EXPECT_EQ(load(raw_file("{\"__metadata__\":{\"k\":\"v\"}}", 0)), State::map());  // only metadata
  State zero = load(raw_file("{\"z\":{\"dtype\":\"F32\",\"shape\":[0,2],\"data_offsets\":[0,0]}}", 0));
  EXPECT_EQ(zero.at("z").as_tensor().nbytes(), 0u);
  // Unpadded header, data at an odd offset.
  State odd = load(raw_file("{\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3));
  EXPECT_EQ(odd.at("u").as_tensor().data()[2], std::byte{0x5a});
  // Tensor names are data, never paths.
  State names = load(raw_file("{\"../../etc/passwd\":{\"dtype\":\"U8\",\"shape\":[1],"
                              "\"data_offsets\":[0,1]},\"a\\u0000b\":{\"dtype\":\"U8\","
                              "\"shape\":[1],\"data_offsets\":[1,2]}}",
                              2));
  EXPECT_TRUE(names.contains("../../etc/passwd"));
  EXPECT_TRUE(names.contains(std::string("a\0b", 3)));
}

}  // namespace
}  // namespace cairn
