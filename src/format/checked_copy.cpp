#include "format/checked_copy.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "cairn/error.hpp"
#include "core/parallel.hpp"
#include "format/checksum.hpp"

namespace cairn::format {
namespace {

constexpr uint64_t kBufferBytes = uint64_t{16} << 20;

// Walks the pieces in order, copying the next bytes into a buffer and hashing the copy.
class PieceCopier {
 public:
  PieceCopier(const std::vector<OutgoingPiece>& pieces, const std::filesystem::path& path)
      : pieces_(pieces), path_(path) {}

  // Fills `buffer` as far as the pieces go; returns the bytes copied (0 when all are written).
  size_t fill(std::span<std::byte> buffer) {
    size_t used = 0;
    while (used < buffer.size() && index_ < pieces_.size()) {
      const auto rest = pieces_[index_].bytes.subspan(offset_);
      const size_t count = std::min(rest.size(), buffer.size() - used);
      if (count > 0) std::memcpy(buffer.data() + used, rest.data(), count);
      const auto copy = buffer.subspan(used, count);
      piece_hash_.update(copy);
      file_hash_.update(copy);
      used += count;
      offset_ += count;
      if (offset_ == pieces_[index_].bytes.size()) finish_piece();
    }
    return used;
  }

  uint64_t file_digest() const { return file_hash_.digest(); }

 private:
  void finish_piece() {
    const OutgoingPiece& piece = pieces_[index_];
    if (piece.expected_xxh3 && piece_hash_.digest() != *piece.expected_xxh3) {
      throw InvalidArgumentError("tensor '" + piece.name +
                                     "' changed while it was being saved (another thread wrote "
                                     "to it); nothing was published",
                                 path_);
    }
    piece_hash_.reset();
    ++index_;
    offset_ = 0;
  }

  const std::vector<OutgoingPiece>& pieces_;
  const std::filesystem::path& path_;
  size_t index_ = 0;
  size_t offset_ = 0;
  Xxh3Stream piece_hash_;
  Xxh3Stream file_hash_;
};

}  // namespace

uint64_t write_checked_copies(WritableFile& out, const std::vector<OutgoingPiece>& pieces,
                              const std::filesystem::path& path_for_errors) {
  uint64_t total = 0;
  for (const OutgoingPiece& piece : pieces) total += piece.bytes.size();
  const size_t capacity = static_cast<size_t>(std::min(total, kBufferBytes));
  std::vector<std::byte> filling(capacity);
  std::vector<std::byte> writing(total > kBufferBytes ? capacity : 0);

  PieceCopier copier(pieces, path_for_errors);
  size_t ready = copier.fill(filling);
  while (ready > 0) {
    std::swap(filling, writing);
    size_t next = 0;
    // Item 0 writes the full buffer, item 1 fills the other one: side by side when the buffer
    // is large, else one after the other. A failure of either is rethrown.
    core::parallel_for(2, ready, [&](size_t item) {
      if (item == 0) {
        out.append(std::span<const std::byte>(writing.data(), ready));
      } else if (!filling.empty()) {
        next = copier.fill(filling);
      }
    });
    ready = next;
  }
  return copier.file_digest();
}

}  // namespace cairn::format
