// Reading safetensors files: cairn's own (tree, checksums, header digest) and anyone else's.
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "cairn/error.hpp"
#include "cairn/safetensors.hpp"
#include "cairn/version.hpp"
#include "core/parallel.hpp"
#include "format/checksum.hpp"
#include "format/header.hpp"
#include "format/strict_json.hpp"
#include "format/tree_codec.hpp"

namespace cairn {

struct SafetensorsFile::Impl {
  std::filesystem::path path;
  ReadOptions options;
  std::unique_ptr<ReadableFile> file;
  format::Header header;
  Metadata user_metadata;
  std::string tree_json;  // empty for files without cairn's tree
  std::unordered_map<std::string_view, size_t> index;  // name -> position in header.tensors
  std::shared_ptr<const MappedRegion> mapping;        // null when copying or without data

  void load_cairn_metadata();
  void verify_header_digest() const;
  void verify_tensor(const TensorInfo& info, std::span<const std::byte> bytes) const;
  std::vector<std::byte> copy_bytes(const TensorInfo& info) const;
  Tensor read_tensor(const TensorInfo& info) const;
  // The tensor's bytes where they lie in the mapping (which must exist), and a view of them kept
  // alive by the mapping; neither verified. The view is writable where the mapping is
  // copy-on-write (its writes stay in this process), read-only where it is not.
  std::span<const std::byte> mapped(const TensorInfo& info) const {
    return mapping->bytes().subspan(header.data_offset() + info.begin, info.end - info.begin);
  }
  Tensor mapped_view(const TensorInfo& info) const {
    const std::span<std::byte> writable = mapping->writable_bytes();
    if (!writable.empty()) {
      const std::span<std::byte> bytes =
          writable.subspan(header.data_offset() + info.begin, info.end - info.begin);
      return Tensor::writable_view(info.dtype, info.shape, bytes.data(), bytes.size(), mapping);
    }
    const std::span<const std::byte> bytes = mapped(info);
    return Tensor::view(info.dtype, info.shape, bytes.data(), bytes.size(), mapping);
  }
  // Reads (and verifies) one tensor into `destination`, chunk by chunk.
  void read_into(const TensorInfo& info, std::span<std::byte> destination) const;
  // The tensor called `name`; throws InvalidArgumentError naming the file when there is none.
  const TensorInfo& info(std::string_view name) const;
};

namespace {

// The cairn keys of a file written by cairn: all present, nothing unknown.
void require_cairn_keys(const Metadata& metadata, const std::filesystem::path& path) {
  for (const char* key : {format::kFormatKey, format::kTreeKey, format::kChecksumsKey,
                          format::kHeaderDigestKey}) {
    if (!metadata.contains(key)) {
      throw CorruptDataError(path, std::string("metadata lacks '") + key + "'");
    }
  }
  for (const auto& [key, value] : metadata) {
    if (key.starts_with(format::kKeyPrefix) && key != format::kFormatKey &&
        key != format::kTreeKey && key != format::kChecksumsKey &&
        key != format::kHeaderDigestKey) {
      throw CorruptDataError(path, "unknown cairn metadata key '" + key + "'");
    }
  }
  if (metadata.at(format::kFormatKey) != std::to_string(kFormatVersion)) {
    throw CorruptDataError(path, "unsupported cairn format version '" +
                                     metadata.at(format::kFormatKey) + "'");
  }
}

}  // namespace

void SafetensorsFile::Impl::load_cairn_metadata() {
  bool is_cairn = false;
  for (const auto& [key, value] : header.metadata) {
    if (key.starts_with(format::kKeyPrefix)) {
      is_cairn = true;
    } else {
      user_metadata.emplace(key, value);
    }
  }
  if (!is_cairn) return;
  require_cairn_keys(header.metadata, path);
  if (options.verify_checksums) verify_header_digest();
  auto checksums = format::parse_strict_json_sorted(header.metadata.at(format::kChecksumsKey), 2,
                                                    path, "checksum list");
  if (!checksums.is_object() || checksums.size() != header.tensors.size()) {
    throw CorruptDataError(path, "checksum list does not match the tensors");
  }
  for (TensorInfo& info : header.tensors) {
    auto entry = checksums.find(info.name);
    auto hash = entry != checksums.end() && entry->is_string()
                    ? format::parse_hex16(entry->get<std::string>())
                    : std::nullopt;
    if (!hash) throw CorruptDataError(path, "tensor '" + info.name + "' has no valid checksum");
    info.xxh3 = hash;
  }
  tree_json = header.metadata.at(format::kTreeKey);
}

void SafetensorsFile::Impl::verify_header_digest() const {
  auto stored = format::parse_hex16(header.metadata.at(format::kHeaderDigestKey));
  if (!stored || *stored != format::header_digest(header.tensors, header.metadata)) {
    throw CorruptDataError(path, "header digest mismatch: the header was altered");
  }
}

void SafetensorsFile::Impl::verify_tensor(const TensorInfo& info,
                                          std::span<const std::byte> bytes) const {
  if (info.xxh3 && format::xxh3(bytes) != *info.xxh3) {
    throw CorruptDataError(path, "tensor '" + info.name + "' checksum mismatch");
  }
}

std::vector<std::byte> SafetensorsFile::Impl::copy_bytes(const TensorInfo& info) const {
  std::vector<std::byte> bytes(info.end - info.begin);
  file->read_at(header.data_offset() + info.begin, bytes);
  return bytes;
}

const TensorInfo& SafetensorsFile::Impl::info(std::string_view name) const {
  auto it = index.find(name);
  if (it == index.end()) {
    throw InvalidArgumentError("no tensor '" + std::string(name) + "' in " + path.string(), path);
  }
  return header.tensors[it->second];
}

Tensor SafetensorsFile::Impl::read_tensor(const TensorInfo& info) const {
  if (options.copy || mapping == nullptr) {
    std::vector<std::byte> bytes = copy_bytes(info);
    if (options.verify_checksums) verify_tensor(info, bytes);
    return Tensor(info.dtype, info.shape, std::move(bytes));
  }
  if (options.verify_checksums) verify_tensor(info, mapped(info));
  return mapped_view(info);
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path,
                                      const ReadOptions& options, Storage& storage) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  impl->file = storage.open_file(path);
  impl->header = format::read_header(*impl->file, path);
  impl->load_cairn_metadata();
  for (size_t i = 0; i < impl->header.tensors.size(); ++i) {
    impl->index.emplace(impl->header.tensors[i].name, i);
  }
  if (!options.copy && impl->file->size() > impl->header.data_offset()) {
    impl->mapping = impl->file->map();
    if (impl->mapping->bytes().size() != impl->file->size()) {
      throw CorruptDataError(path, "file changed size while being opened");
    }
  }
  return SafetensorsFile(std::move(impl));
}

SafetensorsFile::SafetensorsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

const std::filesystem::path& SafetensorsFile::path() const noexcept { return impl_->path; }
const Metadata& SafetensorsFile::metadata() const noexcept { return impl_->user_metadata; }
bool SafetensorsFile::has_tree() const noexcept { return !impl_->tree_json.empty(); }
const std::vector<TensorInfo>& SafetensorsFile::tensors() const noexcept {
  return impl_->header.tensors;
}
uint64_t SafetensorsFile::file_size() const noexcept { return impl_->file->size(); }

Tensor SafetensorsFile::tensor(std::string_view name) const {
  return impl_->read_tensor(impl_->info(name));
}

Tensor SafetensorsFile::tensor_unverified(std::string_view name) const {
  const TensorInfo& info = impl_->info(name);
  if (impl_->mapping == nullptr) return Tensor(info.dtype, info.shape, impl_->copy_bytes(info));
  return impl_->mapped_view(info);
}

void SafetensorsFile::Impl::read_into(const TensorInfo& info, std::span<std::byte> destination) const {
  if (destination.size() != info.end - info.begin) {
    throw InvalidArgumentError("cannot read tensor '" + info.name + "' of " +
                                   std::to_string(info.end - info.begin) + " bytes into " +
                                   std::to_string(destination.size()) + " bytes",
                               path);
  }
  // Small enough to be hashed while still in the CPU cache, large enough to keep the calls few.
  constexpr size_t kChunk = size_t{256} << 10;
  format::Xxh3Stream hash;
  const uint64_t start = header.data_offset() + info.begin;
  for (size_t done = 0; done < destination.size(); done += kChunk) {
    const std::span<std::byte> chunk =
        destination.subspan(done, std::min(kChunk, destination.size() - done));
    file->read_at(start + done, chunk);
    if (options.verify_checksums) hash.update(chunk);
  }
  if (options.verify_checksums && info.xxh3 && hash.digest() != *info.xxh3) {
    throw CorruptDataError(path, "tensor '" + info.name + "' checksum mismatch");
  }
}

void SafetensorsFile::read_into(std::string_view name, std::span<std::byte> destination) const {
  impl_->read_into(impl_->info(name), destination);
}

State SafetensorsFile::state() const { return state_into(State()); }

State SafetensorsFile::state_into(const State& into) const {
  const std::vector<TensorInfo>& infos = impl_->header.tensors;
  // The writer's names for `into`'s tensors are the names this file uses for the same paths.
  std::vector<const Tensor*> target_of(infos.size(), nullptr);
  if (!into.is_null()) {
    std::unordered_map<std::string, const Tensor*> targets;
    for (const format::NamedTensor& named : format::encode_tree(into).tensors) {
      if (named.tensor->writable_data() != nullptr) targets.emplace(named.name, named.tensor);
    }
    for (size_t i = 0; i < infos.size(); ++i) {
      const auto target = targets.find(infos[i].name);
      if (target != targets.end() && target->second->dtype() == infos[i].dtype &&
          target->second->shape() == infos[i].shape) {
        target_of[i] = target->second;
      }
    }
  }
  // First every byte is read into its target or, mapped, verified where it lies: on every core,
  // as both passes are bound by memory bandwidth and hashing. Tensors copied into memory of
  // their own (ReadOptions::copy) are read as the tree is rebuilt.
  const bool mapped = impl_->mapping != nullptr && !impl_->options.copy;
  uint64_t total = 0;
  for (const TensorInfo& info : infos) total += info.end - info.begin;
  core::parallel_for(infos.size(), total, [&](size_t i) {
    if (const Tensor* target = target_of[i]) {
      impl_->read_into(infos[i], {target->writable_data(), target->nbytes()});
    } else if (mapped && impl_->options.verify_checksums) {
      impl_->verify_tensor(infos[i], impl_->mapped(infos[i]));
    }
  });
  auto read = [&](const TensorInfo& info) -> Tensor {
    const size_t i = static_cast<size_t>(&info - infos.data());
    if (target_of[i] != nullptr) return *target_of[i];
    // A mapped tensor was verified above; a copy is read, and verified, now.
    return mapped ? impl_->mapped_view(info) : impl_->read_tensor(info);
  };
  if (!has_tree()) {
    State flat = State::map();
    for (const TensorInfo& info : infos) flat[info.name] = read(info);
    return flat;
  }
  std::vector<std::string_view> names;
  names.reserve(infos.size());
  for (const TensorInfo& info : infos) names.push_back(info.name);
  return format::decode_tree(
      impl_->tree_json, names, [&](const std::string& name) { return read(impl_->info(name)); },
      impl_->path);
}

void SafetensorsFile::verify() const {
  if (!has_tree()) return;  // another tool's file carries no checksums
  impl_->verify_header_digest();
  for (const TensorInfo& info : impl_->header.tensors) {
    if (impl_->mapping) {
      impl_->verify_tensor(info, impl_->mapped(info));
    } else {
      impl_->verify_tensor(info, impl_->copy_bytes(info));
    }
  }
}

State load_file(const std::filesystem::path& path, const ReadOptions& options, Storage& storage) {
  return SafetensorsFile::open(path, options, storage).state();
}

State load_file_into(const std::filesystem::path& path, const State& into,
                     const ReadOptions& options, Storage& storage) {
  return SafetensorsFile::open(path, options, storage).state_into(into);
}

}  // namespace cairn
