// Writing a State as one safetensors file (layout in docs/format.md).
#include <algorithm>
#include <numeric>

#include <nlohmann/json.hpp>

#include "cairn/error.hpp"
#include "cairn/safetensors.hpp"
#include "cairn/version.hpp"
#include "format/checksum.hpp"
#include "format/header.hpp"
#include "format/tree_codec.hpp"
#include "storage/atomic_file.hpp"

namespace cairn {

uint64_t write_safetensors(WritableFile& out, const State& state, const Metadata& user_metadata,
                           const std::filesystem::path& path_for_errors) {
  for (const auto& [key, value] : user_metadata) {
    if (key.starts_with(format::kKeyPrefix)) {
      throw InvalidArgumentError("metadata key '" + key + "' uses the reserved prefix 'cairn.'",
                                 path_for_errors);
    }
  }
  format::EncodedTree tree = format::encode_tree(state);

  // Widest dtype first, then by name: every tensor starts at a multiple of its element size.
  std::vector<size_t> order(tree.tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    size_t width_a = dtype_size(tree.tensors[a].tensor->dtype());
    size_t width_b = dtype_size(tree.tensors[b].tensor->dtype());
    return width_a != width_b ? width_a > width_b : tree.tensors[a].name < tree.tensors[b].name;
  });

  std::vector<TensorInfo> infos;
  infos.reserve(order.size());
  // {"name":"hex16",...} in the data's order, rendered entry by entry (an ordered JSON object
  // would cost n per insertion).
  std::string checksums = "{";
  std::vector<std::span<const std::byte>> data;
  data.reserve(order.size());
  for (size_t index : order) data.push_back(tree.tensors[index].tensor->data());
  const std::vector<uint64_t> hashes = format::xxh3_each(data);
  uint64_t offset = 0;
  for (size_t position = 0; position < order.size(); ++position) {
    const format::NamedTensor& named = tree.tensors[order[position]];
    const Tensor& tensor = *named.tensor;
    const uint64_t hash = hashes[position];
    infos.push_back({named.name, tensor.dtype(), tensor.shape(), offset, offset + tensor.nbytes(),
                     hash});
    if (checksums.size() > 1) checksums += ',';
    format::append_json_string(checksums, named.name);
    checksums += ":\"" + format::to_hex16(hash) + '"';
    offset += tensor.nbytes();
  }

  Metadata metadata = user_metadata;
  metadata[format::kFormatKey] = std::to_string(kFormatVersion);
  metadata[format::kTreeKey] = std::move(tree.json);
  metadata[format::kChecksumsKey] = checksums + '}';
  metadata[format::kHeaderDigestKey] = format::to_hex16(format::header_digest(infos, metadata));
  std::string header;
  try {
    header = format::render_header(infos, metadata);
  } catch (const InvalidArgumentError& error) {
    throw InvalidArgumentError(error.what(), path_for_errors);
  }

  std::vector<std::span<const std::byte>> buffers;
  buffers.reserve(order.size() + 1);
  buffers.push_back(std::as_bytes(std::span(header)));
  for (const auto& bytes : data) {
    if (!bytes.empty()) buffers.push_back(bytes);
  }
  out.append(buffers);
  return header.size() + offset;
}

void save_file(const std::filesystem::path& path, const State& state, const Metadata& metadata) {
  storage::write_file_atomically(local_storage(), path, [&](WritableFile& out) {
    write_safetensors(out, state, metadata, path);
  });
}

}  // namespace cairn
