#include "checkpoint/best_model.hpp"

#include <cerrno>
#include <set>
#include <vector>

#include "cairn/error.hpp"
#include "checkpoint/checkpoint_files.hpp"
#include "checkpoint/layout.hpp"
#include "storage/atomic_file.hpp"
#include "storage/owned_folder.hpp"

namespace cairn::checkpoint {
namespace {

namespace fs = std::filesystem;

// Copies a file through the storage seam, in chunks, and syncs it.
void copy_file(Storage& storage, const fs::path& from, const fs::path& to) {
  auto in = storage.open_file(from);
  auto out = storage.create_file(to);
  std::vector<std::byte> buffer(8 << 20);
  for (uint64_t offset = 0; offset < in->size();) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(buffer.size(), in->size() - offset));
    in->read_at(offset, std::span(buffer).first(chunk));
    out->append(std::span<const std::byte>(buffer).first(chunk));
    offset += chunk;
  }
  out->sync();
  out->close();
}

// A hard link where the filesystem allows one, else a copy.
void link_or_copy(Storage& storage, const fs::path& from, const fs::path& to) {
  try {
    storage.hard_link(from, to);
  } catch (const IoError& error) {
    const int code = error.error_code();
    if (code != EXDEV && code != EPERM && code != EMLINK && code != ENOTSUP && code != ENOSYS) {
      throw;
    }
    copy_file(storage, from, to);
  }
}

// The manifest of a best model: model.safetensors (listed first) and the shard files that hold
// pieces of the model state, without the training state.
Manifest model_part(const Manifest& manifest) {
  Manifest best = manifest;
  best.is_best = true;
  best.sharded.clear();
  std::set<std::string> shard_files;
  for (const ShardedTensorLayout& layout : manifest.sharded) {
    if (layout.path.at(0) != "model_state") continue;
    best.sharded.push_back(layout);
    for (const ShardPiece& piece : layout.pieces) shard_files.insert(piece.file);
  }
  best.files.assign(1, manifest.files.at(0));
  for (const ManifestFile& file : manifest.files) {
    if (shard_files.contains(file.name)) best.files.push_back(file);
  }
  return best;
}

// best-versions/ is cairn's own (storage/owned_folder.hpp). One left by a cairn from before the
// owner marker holds only folders named like checkpoints, and is adopted.
void claim_best_versions(Storage& storage, const fs::path& versions) {
  storage::claim_folder(storage, versions, [](const DirEntry& entry) {
    return entry.is_directory && parse_checkpoint_name(entry.name).has_value();
  });
}

}  // namespace

void publish_best(Storage& storage, storage::StagingArea& staging, const fs::path& serialization_dir,
                  const fs::path& checkpoint_dir, const Manifest& manifest) {
  const std::string name = checkpoint_dir.filename().string();
  const fs::path versions = serialization_dir / kBestVersionsDir;
  claim_best_versions(storage, versions);

  // 1. The new version folder, published whole.
  if (!storage.exists(versions / name)) {
    auto folder = staging.begin("best-" + name);
    const Manifest best = model_part(manifest);
    for (const ManifestFile& file : best.files) {
      link_or_copy(storage, checkpoint_dir / file.name, folder.path() / file.name);
    }
    write_manifest_file(storage, folder.path(), best);
    folder.publish(versions / name);
  }

  // 2. Swing the link, unless `best` is something cairn did not make.
  const fs::path link = serialization_dir / kBestLink;
  best_folder(storage, serialization_dir);  // throws when `best` is not cairn's link
  const fs::path temporary = storage::temporary_sibling(link);
  storage.create_symlink(fs::path(kBestVersionsDir) / name, temporary);
  try {
    storage.rename(temporary, link);
  } catch (...) {
    storage::cleanup_quietly([&] { storage.remove_owned(temporary); });
    throw;
  }
  storage.sync_directory(serialization_dir);

  // 3. Older versions are no longer reachable.
  remove_unreachable_best_versions(storage, staging, serialization_dir);
}

void remove_unreachable_best_versions(Storage& storage, storage::StagingArea& staging,
                                      const fs::path& serialization_dir) {
  const fs::path versions = serialization_dir / kBestVersionsDir;
  if (!storage.exists(versions)) return;
  claim_best_versions(storage, versions);
  const std::optional<fs::path> current = best_folder(storage, serialization_dir);
  for (const DirEntry& entry : storage.list(versions)) {
    // Only the versions cairn made; anything else put into the folder stays.
    if (!entry.is_directory || !parse_checkpoint_name(entry.name)) continue;
    if (!current || entry.name != current->filename()) staging.discard(versions / entry.name);
  }
}

std::optional<fs::path> best_folder(Storage& storage, const fs::path& serialization_dir) {
  const fs::path link = serialization_dir / kBestLink;
  fs::path target;
  try {
    target = storage.read_symlink(link);
  } catch (const IoError& error) {
    if (error.error_code() == ENOENT) return std::nullopt;
    if (error.error_code() == EINVAL) {
      throw CorruptDataError(link, "is not a symbolic link cairn made; cairn leaves it alone");
    }
    throw;
  }
  // Only a link cairn made is followed: best-versions/<checkpoint name>.
  if (target.parent_path() != fs::path(kBestVersionsDir) ||
      !parse_checkpoint_name(target.filename().string())) {
    throw CorruptDataError(link, "points to " + target.string() + ", not into " +
                                     kBestVersionsDir + "/");
  }
  return serialization_dir / target;
}

}  // namespace cairn::checkpoint
