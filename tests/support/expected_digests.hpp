// The expected.json format of the shared test data: for each file, for each tensor, its dtype,
// shape and the SHA-256 of its raw little-endian bytes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/cairn.hpp"

namespace cairn::testing {

std::string sha256_hex(std::span<const std::byte> bytes);

// The expected.json entry of one file: name -> {dtype, shape, sha256}, in tensor order.
nlohmann::ordered_json describe_tensors(const State& flat_map);

// Differences between a loaded flat map and its expected.json entry; empty when they agree.
std::vector<std::string> compare_with_expected(const State& flat_map,
                                               const nlohmann::json& expected);

}  // namespace cairn::testing
