// Folders cairn deletes inside: staging/ (where every deletion happens) and best-versions/.
//
// cairn marks each such folder as its own with a kOwnerMarker file when it creates it, and
// Storage::remove_owned (the one deletion of the seam) deletes nothing in a folder without the
// marker. A folder of that name that cairn did not create is left alone: claiming it fails with
// a clear error, and cairn neither writes into it nor deletes from it.
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

#include "cairn/storage.hpp"

namespace cairn::storage {

// Makes `dir` a folder cairn owns, durably:
// 1. absent: create it, then the marker in it (fsynced), then fsync it and its parent;
// 2. present and marked: nothing to do;
// 3. present, a real directory (not a symbolic link) and unmarked: adopted (marked) only when
//    it is empty or every entry passes `looks_ours` (folders an earlier cairn, from before the
//    marker, left there).
// Throws InvalidArgumentError naming `dir` and the reason otherwise; IoError when a step fails.
void claim_folder(Storage& storage, const std::filesystem::path& dir,
                  const std::function<bool(const DirEntry&)>& looks_ours = {});

}  // namespace cairn::storage
