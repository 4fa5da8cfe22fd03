// XXH3-64 checksums and their fixed-width text form (16 lowercase hex digits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::format {

uint64_t xxh3(std::span<const std::byte> bytes) noexcept;
uint64_t xxh3(std::string_view text) noexcept;
// xxh3() of each of `pieces`, computed on the machine's cores (core::parallel_for).
std::vector<uint64_t> xxh3_each(const std::vector<std::span<const std::byte>>& pieces);
std::string to_hex16(uint64_t value);

// XXH3-64 of data that arrives in pieces (equal to xxh3() of the concatenation).
class Xxh3Stream {
 public:
  Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;
  ~Xxh3Stream();
  void update(std::span<const std::byte> bytes) noexcept;
  void reset() noexcept;  // back to the hash of nothing
  uint64_t digest() const noexcept;

 private:
  void* state_;  // XXH3_state_t, kept out of this header
};
// Parses exactly 16 hex digits; nullopt for anything else.
std::optional<uint64_t> parse_hex16(std::string_view text) noexcept;

}  // namespace cairn::format
