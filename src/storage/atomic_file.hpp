// Replacing one file atomically and durably.
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

#include "cairn/storage.hpp"

namespace cairn::storage {

// 1. create a temporary file beside `path` (same directory, so the rename stays on one
//    filesystem), named ".<name>.cairn-tmp.<pid>.<n>"
// 2. `write` fills it; fsync; close
// 3. rename it over `path`
// 4. fsync the directory, so the new name survives a power loss
// On failure at any step the temporary file is removed (best effort) and the error propagates;
// `path` keeps its old content unless step 3 has happened.
void write_file_atomically(Storage& storage, const std::filesystem::path& path,
                           const std::function<void(WritableFile&)>& write);

// Name for a temporary sibling of `path` that no other writer in any process picks.
std::filesystem::path temporary_sibling(const std::filesystem::path& path);

// Whether `name` is a name temporary_sibling gave in this process.
bool is_own_temporary(std::string_view name);

// Whether `name` names an entry of a folder: not empty, ".", "..", and without '/' or NUL.
bool is_plain_name(std::string_view name);

// Runs `cleanup`, swallowing its errors: used while another error is already propagating, which
// must not be replaced by a secondary one.
void cleanup_quietly(const std::function<void()>& cleanup) noexcept;

}  // namespace cairn::storage
