// best/: the model state of the last checkpoint saved with is_best_so_far, independent of
// retention.
//
// `best` is a symbolic link to best-versions/<checkpoint name>/, a folder holding a hard link
// to (or, where links fail, a copy of) that checkpoint's model.safetensors and a manifest. It is
// replaced atomically:
// 1. claim best-versions/ (storage/owned_folder.hpp: refused when cairn did not create it),
//    build best-versions/<name>/ in staging/ and publish it (one rename)
// 2. unless `best` exists and is not a link cairn made (then nothing is replaced), make a new
//    symlink beside `best` and rename it over `best` (atomic), fsync the directory
// 3. remove the folders of best-versions/ that `best` no longer points to
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "cairn/storage.hpp"
#include "checkpoint/manifest.hpp"
#include "storage/staging.hpp"

namespace cairn::checkpoint {

// Makes the model of the published checkpoint `checkpoint_dir` (with manifest `manifest`) the
// best one. `serialization_dir` holds `best`. Throws InvalidArgumentError (best-versions/ is not
// cairn's), CorruptDataError (`best` is not cairn's link) or IoError; `best` is then unchanged.
void publish_best(Storage& storage, storage::StagingArea& staging,
                  const std::filesystem::path& serialization_dir,
                  const std::filesystem::path& checkpoint_dir, const Manifest& manifest);

// Removes the folders of best-versions/ that `best` does not point to (left by a failure during
// step 3). Call only while holding the directory lock.
void remove_unreachable_best_versions(Storage& storage, storage::StagingArea& staging,
                                      const std::filesystem::path& serialization_dir);

// The folder `best` points to, or nullopt when there is no best model.
std::optional<std::filesystem::path> best_folder(Storage& storage,
                                                 const std::filesystem::path& serialization_dir);

}  // namespace cairn::checkpoint
