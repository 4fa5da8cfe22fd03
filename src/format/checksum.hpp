// XXH3-64 checksums and their fixed-width text form (16 lowercase hex digits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cairn::format {

uint64_t xxh3(std::span<const std::byte> bytes) noexcept;
uint64_t xxh3(std::string_view text) noexcept;
std::string to_hex16(uint64_t value);
// Parses exactly 16 hex digits; nullopt for anything else.
std::optional<uint64_t> parse_hex16(std::string_view text) noexcept;

}  // namespace cairn::format
