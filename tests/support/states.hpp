// States for tests: tensors with known bytes, and a tree holding every kind of value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cairn/cairn.hpp"

namespace cairn::testing {

// A tensor of `dtype` and `shape` whose bytes come from `seed`.
Tensor patterned_tensor(DType dtype, std::vector<int64_t> shape, uint32_t seed);

// A tree with every value kind, every dtype, 0-d and zero-size tensors, doubles that need
// bit-exactness (NaN, inf, -0.0), UTF-8 text, nested lists and maps, and colliding names.
State every_kind_state();

// A random tree of maps, lists, scalars and tensors (deterministic for a seed).
State random_state(std::mt19937& random, int depth = 3);

std::vector<std::byte> read_bytes(const std::filesystem::path& path);
void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes);

}  // namespace cairn::testing
