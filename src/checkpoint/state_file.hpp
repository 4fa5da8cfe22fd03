// One state as a cairn safetensors file, written, fsynced and closed, with its manifest entry.
#pragma once

#include <filesystem>
#include <memory>

#include "cairn/safetensors.hpp"
#include "cairn/storage.hpp"
#include "checkpoint/manifest.hpp"

namespace cairn::checkpoint {

// Writes `state` (with `metadata`) as a cairn safetensors file into `out`, which it fsyncs and
// closes; returns the file's manifest entry (its name is path's file name).
ManifestFile write_state_file(std::unique_ptr<WritableFile> out, const std::filesystem::path& path,
                              const State& state, const Metadata& metadata);

}  // namespace cairn::checkpoint
