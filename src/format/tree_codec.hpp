// Encodes a State tree as JSON text plus a list of named tensors, and back.
//
// Tensor names are the tree paths joined with '.' (list elements by index), as PyTorch names
// them: {"optimizer": {"state": [{"exp_avg": T}]}} -> "optimizer.state.0.exp_avg". When two paths
// give the same name ({"a.b": T1, "a": {"b": T2}}), the later tensor in tree order gets the
// first free name "<name>~1", "<name>~2", ...; the tree records the name actually used, so every
// tree round-trips. The JSON grammar is in docs/format.md.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/state.hpp"

namespace cairn::format {

struct NamedTensor {
  std::string name;
  const Tensor* tensor;  // points into the encoded State
};

struct EncodedTree {
  std::string json;
  std::vector<NamedTensor> tensors;  // in tree order
};

// Throws InvalidArgumentError for a string or key that is not valid UTF-8.
EncodedTree encode_tree(const State& state);

// Rebuilds the State. `tensor_by_name` returns the tensor stored under a name or throws.
// Every tensor named in `tensor_names` must be referenced exactly once. Throws CorruptDataError
// (naming `path`) on any malformed tree.
State decode_tree(std::string_view json, const std::vector<std::string_view>& tensor_names,
                  const std::function<Tensor(const std::string&)>& tensor_by_name,
                  const std::filesystem::path& path);

// Deepest State nesting a writer accepts, and the JSON nesting a reader accepts (a map level
// takes three JSON levels: {"map": [["key", value]]}).
inline constexpr int kMaxWriteDepth = 128;
inline constexpr int kMaxTreeJsonDepth = 3 * kMaxWriteDepth + 8;

}  // namespace cairn::format
