#include "support/expected_digests.hpp"

#include <openssl/evp.h>

namespace cairn::testing {

std::string sha256_hex(std::span<const std::byte> bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 0xf];
  }
  return hex;
}

nlohmann::ordered_json describe_tensors(const State& flat_map) {
  nlohmann::ordered_json described = nlohmann::ordered_json::object();
  for (const auto& [name, value] : flat_map.items()) {
    const Tensor& tensor = value.as_tensor();
    described[name] = {{"dtype", dtype_name(tensor.dtype())},
                       {"shape", tensor.shape()},
                       {"sha256", sha256_hex(tensor.data())}};
  }
  return described;
}

std::vector<std::string> compare_with_expected(const State& flat_map,
                                               const nlohmann::json& expected) {
  std::vector<std::string> problems;
  if (!flat_map.is_map()) return {"not a map of tensors"};
  if (flat_map.size() != expected.size()) {
    problems.push_back("holds " + std::to_string(flat_map.size()) + " tensors, expected " +
                       std::to_string(expected.size()));
  }
  for (const auto& [name, value] : flat_map.items()) {
    if (!expected.contains(name)) {
      problems.push_back("unexpected tensor '" + name + "'");
      continue;
    }
    if (!value.is_tensor()) {
      problems.push_back("'" + name + "' is not a tensor");
      continue;
    }
    const auto& want = expected.at(name);
    const Tensor& tensor = value.as_tensor();
    if (dtype_name(tensor.dtype()) != want.at("dtype").get<std::string>()) {
      problems.push_back("'" + name + "' has dtype " + std::string(dtype_name(tensor.dtype())));
    }
    if (tensor.shape() != want.at("shape").get<std::vector<int64_t>>()) {
      problems.push_back("'" + name + "' has another shape");
    }
    if (sha256_hex(tensor.data()) != want.at("sha256").get<std::string>()) {
      problems.push_back("'" + name + "' has other bytes");
    }
  }
  return problems;
}

}  // namespace cairn::testing
