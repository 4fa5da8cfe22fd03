// Hash what you write: the bytes of a file pass through buffers of cairn's own on their way to
// the disk, and are hashed there, so the bytes written are exactly the bytes hashed even when
// another thread changes a tensor during the save (the GIL is released while Python saves).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cairn/storage.hpp"

namespace cairn::format {

struct OutgoingPiece {
  std::string name;                       // for errors: the tensor's name
  std::span<const std::byte> bytes;       // read once, by the copy
  std::optional<uint64_t> expected_xxh3;  // the checksum the header already holds, if any
};

// Writes `pieces` to `out` back to back and returns the XXH3 of every byte written. Step by step,
// for each buffer of up to 16 MiB:
// 1. the next bytes of the pieces are copied into the buffer (the only read of the caller's
//    memory), and each piece's hash and the file's hash are updated from the copy;
// 2. the buffer is appended to the file while the next buffer is filled on another core.
// When a piece's copy does not hash to its expected checksum, the piece changed after the header
// was made: InvalidArgumentError naming the path and the piece, and the file must not be used.
uint64_t write_checked_copies(WritableFile& out, const std::vector<OutgoingPiece>& pieces,
                              const std::filesystem::path& path_for_errors);

}  // namespace cairn::format
