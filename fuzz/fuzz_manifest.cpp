// libFuzzer target: a MANIFEST.json is untrusted input. Any bytes must give a Manifest or a
// cairn::Error, never a crash. The values of a manifest whose checksum does not match (almost
// every fuzzed input) are checked as well, so that the sharded-layout rules (checked volumes and
// bounds, overlaps, coverage) meet hostile numbers under the sanitizers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cairn/error.hpp"
#include "checkpoint/manifest.hpp"
#include "checkpoint/shard_layouts.hpp"
#include "checkpoint/shard_pieces.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)cairn::checkpoint::parse_manifest(text, "fuzz-input");
  } catch (const cairn::Error&) {
    // Refusing bad input with a cairn::Error is the expected outcome.
  }
  try {
    const auto values = cairn::checkpoint::parse_manifest_values(text, "fuzz-input");
    (void)cairn::checkpoint::layout_problem(values.sharded);
    (void)cairn::checkpoint::render_manifest(values);
  } catch (const cairn::Error&) {
  }
  return 0;
}
