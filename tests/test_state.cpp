#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cairn/cairn.hpp"

namespace cairn {
namespace {

TEST(State, LiteralsMakeTheExpectedKinds) {
  EXPECT_TRUE(State("text").is_string());  // not a bool
  EXPECT_EQ(State("text").as_string(), "text");
  EXPECT_TRUE(State(3).is_int());  // not a double
  EXPECT_TRUE(State(3u).is_int());
  EXPECT_TRUE(State(int64_t{3}).is_int());
  EXPECT_TRUE(State(3.0).is_double());
  EXPECT_TRUE(State(true).is_bool());
  EXPECT_TRUE(State().is_null());
  EXPECT_TRUE(State(std::string("s")).is_string());
  EXPECT_THROW(State{std::numeric_limits<uint64_t>::max()}, InvalidArgumentError);
}

TEST(State, WrongTypeAccessThrowsAClearError) {
  State state = 3;
  EXPECT_THROW(state.as_double(), InvalidArgumentError);
  EXPECT_THROW(state.as_string(), InvalidArgumentError);
  EXPECT_THROW(state.as_tensor(), InvalidArgumentError);
  EXPECT_THROW(state["key"], InvalidArgumentError);
  EXPECT_THROW(state.push_back(1), InvalidArgumentError);
  try {
    state.as_bool();
    FAIL() << "no exception";
  } catch (const InvalidArgumentError& error) {
    EXPECT_STREQ(error.what(), "State holds a int, not a bool");
  }
}

TEST(State, MapKeepsInsertionOrder) {
  State map;
  map["zebra"] = 1;
  map["apple"] = 2;
  map["mango"] = 3;
  map["apple"] = 4;  // replacing keeps the position
  ASSERT_EQ(map.size(), 3u);
  std::vector<std::string> keys;
  for (const auto& [key, value] : map.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"zebra", "apple", "mango"}));
  EXPECT_EQ(map.at("apple").as_int(), 4);
  EXPECT_TRUE(map.contains("mango"));
  EXPECT_FALSE(map.contains("kiwi"));
  EXPECT_THROW(map.at("kiwi"), InvalidArgumentError);
  EXPECT_TRUE(map.erase("zebra"));
  EXPECT_FALSE(map.erase("zebra"));
  EXPECT_EQ(map.items().front().first, "apple");
  EXPECT_EQ(map.at("mango").as_int(), 3);  // the index survives an erase
}

TEST(State, LargeMapsLookUpByKey) {
  State map = State::map();
  for (int i = 0; i < 5000; ++i) map["key" + std::to_string(i)] = i;
  for (int i = 0; i < 5000; i += 7) EXPECT_EQ(map.at("key" + std::to_string(i)).as_int(), i);
}

TEST(State, Lists) {
  State list;
  list.push_back(1);
  list.push_back("two");
  list.push_back(State::map());
  EXPECT_TRUE(list.is_list());
  EXPECT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].as_int(), 1);
  EXPECT_EQ(list.at(1).as_string(), "two");
  EXPECT_THROW(list.at(3), InvalidArgumentError);
  EXPECT_THROW(list[-1], InvalidArgumentError);
  list[2]["inner"] = 1.5;
  EXPECT_EQ(list[2]["inner"].as_double(), 1.5);
}

TEST(State, EqualityIsDeepAndBitExactForDoubles) {
  auto make = [] {
    State state;
    state["a"]["b"].push_back(std::numeric_limits<double>::quiet_NaN());
    state["t"] = Tensor(DType::U8, {2}, {std::byte{1}, std::byte{2}});
    return state;
  };
  EXPECT_EQ(make(), make());  // NaN equals itself bit for bit
  State other = make();
  other["a"]["b"].push_back(0);
  EXPECT_NE(make(), other);
  EXPECT_NE(State(0.0), State(-0.0));
  EXPECT_NE(State(1), State(1.0));
  State reordered;
  reordered["t"] = make().at("t");
  reordered["a"] = make().at("a");
  EXPECT_NE(make(), reordered);  // order is part of a map's value
}

TEST(State, CopiesAreDeepForTheTreeAndShareTensorBytes) {
  State original;
  original["t"] = Tensor(DType::U8, {1}, {std::byte{7}});
  original["n"] = 1;
  State copy = original;
  copy["n"] = 2;
  EXPECT_EQ(original.at("n").as_int(), 1);
  EXPECT_EQ(copy.at("t").as_tensor().data().data(), original.at("t").as_tensor().data().data());
  State moved = std::move(copy);
  EXPECT_EQ(moved.at("n").as_int(), 2);
}

}  // namespace
}  // namespace cairn
