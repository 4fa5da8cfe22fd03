#include "format/checksum.hpp"

#include <xxhash.h>

#include <new>

#include "core/parallel.hpp"

namespace cairn::format {

uint64_t xxh3(std::span<const std::byte> bytes) noexcept {
  return XXH3_64bits(bytes.data(), bytes.size());
}

uint64_t xxh3(std::string_view text) noexcept { return XXH3_64bits(text.data(), text.size()); }

std::vector<uint64_t> xxh3_each(const std::vector<std::span<const std::byte>>& pieces) {
  uint64_t total = 0;
  for (const auto& piece : pieces) total += piece.size();
  std::vector<uint64_t> hashes(pieces.size());
  core::parallel_for(pieces.size(), total, [&](size_t i) { hashes[i] = xxh3(pieces[i]); });
  return hashes;
}

Xxh3Stream::Xxh3Stream() : state_(XXH3_createState()) {
  if (state_ == nullptr) throw std::bad_alloc();
  reset();
}

Xxh3Stream::~Xxh3Stream() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Xxh3Stream::update(std::span<const std::byte> bytes) noexcept {
  XXH3_64bits_update(static_cast<XXH3_state_t*>(state_), bytes.data(), bytes.size());
}

void Xxh3Stream::reset() noexcept { XXH3_64bits_reset(static_cast<XXH3_state_t*>(state_)); }

uint64_t Xxh3Stream::digest() const noexcept {
  return XXH3_64bits_digest(static_cast<const XXH3_state_t*>(state_));
}

std::string to_hex16(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text(16, '0');
  for (int i = 15; i >= 0; --i) {
    text[static_cast<size_t>(i)] = kDigits[value & 0xf];
    value >>= 4;
  }
  return text;
}

std::optional<uint64_t> parse_hex16(std::string_view text) noexcept {
  if (text.size() != 16) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  return value;
}

}  // namespace cairn::format
