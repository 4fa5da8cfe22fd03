#include "checkpoint/layout.hpp"

#include <charconv>
#include <cstdio>

#include "cairn/error.hpp"

namespace cairn::checkpoint {
namespace {

// Reads a non-negative decimal number at the front of `text` and drops it; no sign, no leading
// zeros unless `fixed_width` digits are expected.
std::optional<int64_t> take_number(std::string_view& text, size_t fixed_width = 0) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || (fixed_width != 0 && digits != fixed_width) ||
      (fixed_width == 0 && digits > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + digits, value);
  if (error != std::errc() || end != text.data() + digits) return std::nullopt;
  text.remove_prefix(digits);
  return value;
}

bool take(std::string_view& text, std::string_view prefix) {
  if (!text.starts_with(prefix)) return false;
  text.remove_prefix(prefix.size());
  return true;
}

constexpr size_t kSeqDigits = 10;

}  // namespace

std::string format_seq(int64_t seq) {
  char text[32];
  std::snprintf(text, sizeof(text), "%010lld", static_cast<long long>(seq));
  return text;
}

std::string format_checkpoint_name(const CheckpointName& name) {
  if (name.seq < 0 || name.seq > kMaxSeq || name.epoch < 0 ||
      (name.batches_this_epoch && *name.batches_this_epoch < 0)) {
    throw InvalidArgumentError("no checkpoint name for sequence " + std::to_string(name.seq) +
                               ", epoch " + std::to_string(name.epoch) +
                               ": the sequence must lie in 0.." + std::to_string(kMaxSeq));
  }
  std::string text = "ckpt-" + format_seq(name.seq);
  text += "-epoch" + std::to_string(name.epoch);
  text += name.batches_this_epoch ? "-batch" + std::to_string(*name.batches_this_epoch)
                                  : std::string("-end");
  return text;
}

std::optional<CheckpointName> parse_checkpoint_name(std::string_view text) {
  CheckpointName name;
  if (!take(text, "ckpt-")) return std::nullopt;
  auto seq = take_number(text, kSeqDigits);
  if (!seq || !take(text, "-epoch")) return std::nullopt;
  auto epoch = take_number(text);
  if (!epoch) return std::nullopt;
  name.seq = *seq;
  name.epoch = *epoch;
  if (take(text, "-end")) return text.empty() ? std::optional(name) : std::nullopt;
  if (!take(text, "-batch")) return std::nullopt;
  name.batches_this_epoch = take_number(text);
  if (!name.batches_this_epoch || !text.empty()) return std::nullopt;
  return name;
}

}  // namespace cairn::checkpoint
