// Writing a State as one safetensors file (layout in docs/format.md).
#include <algorithm>
#include <numeric>

#include <nlohmann/json.hpp>

#include "cairn/error.hpp"
#include "cairn/safetensors.hpp"
#include "cairn/version.hpp"
#include "format/checked_copy.hpp"
#include "format/checksum.hpp"
#include "format/header.hpp"
#include "format/safetensors_writer.hpp"
#include "format/tree_codec.hpp"
#include "storage/atomic_file.hpp"

namespace cairn {
namespace format {

WrittenFile write_safetensors_hashed(WritableFile& out, const State& state,
                                     const Metadata& user_metadata,
                                     const std::filesystem::path& path_for_errors) {
  for (const auto& [key, value] : user_metadata) {
    if (key.starts_with(kKeyPrefix)) {
      throw InvalidArgumentError("metadata key '" + key + "' uses the reserved prefix 'cairn.'",
                                 path_for_errors);
    }
  }
  EncodedTree tree = encode_tree(state);

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
  const std::vector<uint64_t> hashes = xxh3_each(data);
  uint64_t offset = 0;
  for (size_t position = 0; position < order.size(); ++position) {
    const NamedTensor& named = tree.tensors[order[position]];
    const Tensor& tensor = *named.tensor;
    const uint64_t hash = hashes[position];
    infos.push_back({named.name, tensor.dtype(), tensor.shape(), offset, offset + tensor.nbytes(),
                     hash});
    if (checksums.size() > 1) checksums += ',';
    append_json_string(checksums, named.name);
    checksums += ":\"" + to_hex16(hash) + '"';
    offset += tensor.nbytes();
  }

  Metadata metadata = user_metadata;
  metadata[kFormatKey] = std::to_string(kFormatVersion);
  metadata[kTreeKey] = std::move(tree.json);
  metadata[kChecksumsKey] = checksums + '}';
  metadata[kHeaderDigestKey] = to_hex16(header_digest(infos, metadata));
  std::string header;
  try {
    header = render_header(infos, metadata);
  } catch (const InvalidArgumentError& error) {
    throw InvalidArgumentError(error.what(), path_for_errors);
  }

  // The header holds each tensor's checksum, taken above; the copy each tensor's bytes are
  // written from is hashed again and must match (checked_copy.hpp).
  std::vector<OutgoingPiece> pieces;
  pieces.reserve(order.size() + 1);
  pieces.push_back({"(header)", std::as_bytes(std::span(header)), std::nullopt});
  for (size_t position = 0; position < order.size(); ++position) {
    pieces.push_back({infos[position].name, data[position], hashes[position]});
  }
  const uint64_t digest = write_checked_copies(out, pieces, path_for_errors);
  return {header.size() + offset, digest};
}

}  // namespace format

uint64_t write_safetensors(WritableFile& out, const State& state, const Metadata& metadata,
                           const std::filesystem::path& path_for_errors) {
  return format::write_safetensors_hashed(out, state, metadata, path_for_errors).size;
}

void save_file(const std::filesystem::path& path, const State& state, const Metadata& metadata,
               Storage& storage) {
  storage::write_file_atomically(storage, path, [&](WritableFile& out) {
    write_safetensors(out, state, metadata, path);
  });
}

}  // namespace cairn
