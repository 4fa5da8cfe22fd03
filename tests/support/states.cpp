#include "support/states.hpp"

#include <bit>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>

namespace cairn::testing {

Tensor patterned_tensor(DType dtype, std::vector<int64_t> shape, uint32_t seed) {
  size_t nbytes = tensor_nbytes(dtype, shape);
  std::vector<std::byte> bytes(nbytes);
  std::mt19937 random(seed);
  for (auto& byte : bytes) byte = static_cast<std::byte>(random() & 0xff);
  if (dtype == DType::BOOL) {
    for (auto& byte : bytes) byte &= std::byte{1};
  }
  return Tensor(dtype, std::move(shape), std::move(bytes));
}

State every_kind_state() {
  State state;
  state["null"] = State();
  state["yes"] = true;
  state["no"] = false;
  state["int"] = int64_t{-9'007'199'254'740'993};  // not representable as a double
  state["int_max"] = std::numeric_limits<int64_t>::max();
  state["int_min"] = std::numeric_limits<int64_t>::min();
  state["pi"] = 3.141592653589793;
  state["negative_zero"] = -0.0;
  state["inf"] = std::numeric_limits<double>::infinity();
  state["minus_inf"] = -std::numeric_limits<double>::infinity();
  state["nan"] = std::numeric_limits<double>::quiet_NaN();
  state["nan_payload"] = std::bit_cast<double>(uint64_t{0x7ff4000000000123});
  state["denormal"] = std::numeric_limits<double>::denorm_min();
  state["text"] = "héllo, 世界 🚀";
  state["empty_text"] = "";
  state["text_with_nul"] = std::string("a\0b", 3);
  state["empty_list"] = State::list();
  state["empty_map"] = State::map();
  State& tensors = state["tensors"];
  uint32_t seed = 1;
  for (DType dtype : kAllDTypes) {
    tensors[std::string(dtype_name(dtype))] = patterned_tensor(dtype, {3, 5}, seed++);
  }
  tensors["scalar"] = patterned_tensor(DType::F32, {}, seed++);
  tensors["zero_size"] = patterned_tensor(DType::F64, {0, 4}, seed++);
  tensors["odd_sized"] = patterned_tensor(DType::U8, {7}, seed++);
  State& optimizer = state["optimizer"];
  optimizer["state"].push_back(State::map());
  optimizer["state"][0]["step"] = 10;
  optimizer["state"][0]["exp_avg"] = patterned_tensor(DType::F32, {4, 2}, seed++);
  optimizer["param_groups"].push_back(State::map());
  optimizer["param_groups"][0]["lr"] = 0.001;
  optimizer["param_groups"][0]["params"].push_back(0);
  // Names that collide once joined with '.': "a.b" at the top and "a" -> "b".
  state["a.b"] = patterned_tensor(DType::I32, {2}, seed++);
  state["a"]["b"] = patterned_tensor(DType::I32, {2}, seed++);
  state["a"]["b~1"] = patterned_tensor(DType::I32, {2}, seed++);
  state["keys"]["with/slash"] = patterned_tensor(DType::U8, {1}, seed++);
  state["keys"][".."] = patterned_tensor(DType::U8, {1}, seed++);
  state["keys"][std::string("nul\0key", 7)] = patterned_tensor(DType::U8, {1}, seed++);
  state["keys"][""] = 1;
  return state;
}

State random_state(std::mt19937& random, int depth) {
  auto pick = [&](int n) { return static_cast<int>(random() % static_cast<unsigned>(n)); };
  int kind = depth <= 0 ? pick(5) : pick(7);
  switch (kind) {
    case 0: return State();
    case 1: return State(pick(2) == 1);
    case 2: return State(static_cast<int64_t>(random()) - (1LL << 31));
    case 3: return State(std::bit_cast<double>((uint64_t{random()} << 32) | random()));
    case 4: {
      DType dtype = kAllDTypes[pick(std::size(kAllDTypes))];
      std::vector<int64_t> shape;
      for (int rank = pick(4); rank > 0; --rank) shape.push_back(pick(6));
      return patterned_tensor(dtype, shape, static_cast<uint32_t>(random()));
    }
    case 5: {
      State list = State::list();
      for (int n = pick(4); n > 0; --n) list.push_back(random_state(random, depth - 1));
      return list;
    }
    default: {
      State map = State::map();
      for (int n = pick(5); n > 0; --n) {
        map["k" + std::to_string(pick(8))] = random_state(random, depth - 1);
      }
      return map;
    }
  }
}

std::vector<std::byte> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace cairn::testing
