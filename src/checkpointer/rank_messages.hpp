// What the ranks of a save or a restore tell each other, as typed values, and the small binary
// codec that carries them through Coordinator::all_gather (which moves bytes). Every field is
// length-prefixed, so a path or a message may hold any byte; there are no sentinels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/sharding.hpp"
#include "checkpoint/manifest.hpp"

namespace cairn::checkpointer {

// Appends fields to a message: integers as 8 little-endian bytes, text as its size then bytes.
class MessageWriter {
 public:
  void put_u8(uint8_t value) { bytes_.push_back(static_cast<char>(value)); }
  void put_u64(uint64_t value);
  void put_bytes(std::string_view bytes) { bytes_.append(bytes); }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

// Reads the fields MessageWriter wrote, in the same order. A message cut short or with bytes
// left over throws CorruptDataError naming `what` (ranks run the same code: a bug, or a
// coordinator that damaged the message).
class MessageReader {
 public:
  MessageReader(std::string_view bytes, std::string_view what) : bytes_(bytes), what_(what) {}
  uint8_t u8();
  uint64_t u64();
  std::string_view bytes(uint64_t size);
  // The count of a list that follows, bounded by the bytes left (each element takes one at least).
  uint64_t count();
  void expect_end() const;
  [[noreturn]] void fail(const std::string& why) const;

 private:
  std::string_view bytes_;
  std::string what_;
};

// No payload: a step whose only news is that it succeeded.
struct Done {};

// The start of a save. Rank 0: the staging folder every rank writes into. Every rank: the paths
// of its sharded tensors, for which rank 0 leaves a place in its trees.
struct SaveStart {
  std::string staging_dir;  // empty but from rank 0
  std::vector<StatePath> sharded_paths;
};

// What one rank wrote into the staging folder: its files and the layout of its pieces.
struct WrittenFiles {
  std::vector<checkpoint::ManifestFile> files;
  std::vector<checkpoint::ShardedTensorLayout> sharded;
};

// One rank's verdict on a checkpoint it tried to read.
struct ReadVerdict {
  enum class Kind : uint8_t { Read, Vanished, Corrupt };
  Kind kind = Kind::Read;
  std::string problem;  // Corrupt: why
};

// Rank 0's choice of the checkpoint folder to try next; none when no candidate is left.
using Choice = std::optional<std::string>;

// Each type a message holds is written by `put` and read back by `take`, field by field in the
// same order; lists and optional values are built from their elements' pair.
void put(MessageWriter& out, bool value);
void take(MessageReader& in, bool& value);
void put(MessageWriter& out, uint64_t value);
void take(MessageReader& in, uint64_t& value);
void put(MessageWriter& out, int64_t value);
void take(MessageReader& in, int64_t& value);
void put(MessageWriter& out, const std::string& value);
void take(MessageReader& in, std::string& value);
void put(MessageWriter& out, const checkpoint::ManifestFile& value);
void take(MessageReader& in, checkpoint::ManifestFile& value);
void put(MessageWriter& out, const checkpoint::ShardPiece& value);
void take(MessageReader& in, checkpoint::ShardPiece& value);
void put(MessageWriter& out, const checkpoint::ShardedTensorLayout& value);
void take(MessageReader& in, checkpoint::ShardedTensorLayout& value);
void put(MessageWriter& out, const Done& value);
void take(MessageReader& in, Done& value);
void put(MessageWriter& out, const SaveStart& value);
void take(MessageReader& in, SaveStart& value);
void put(MessageWriter& out, const WrittenFiles& value);
void take(MessageReader& in, WrittenFiles& value);
void put(MessageWriter& out, const ReadVerdict& value);
void take(MessageReader& in, ReadVerdict& value);

template <typename T>
void put(MessageWriter& out, const std::vector<T>& values) {
  put(out, uint64_t{values.size()});
  for (const T& value : values) put(out, value);
}
template <typename T>
void take(MessageReader& in, std::vector<T>& values) {
  values.resize(in.count());
  for (T& value : values) take(in, value);
}
template <typename T>
void put(MessageWriter& out, const std::optional<T>& value) {
  put(out, value.has_value());
  if (value) put(out, *value);
}
template <typename T>
void take(MessageReader& in, std::optional<T>& value) {
  bool present = false;
  take(in, present);
  value.reset();
  if (present) take(in, value.emplace());
}

template <typename Message>
std::string encode(const Message& message) {
  MessageWriter out;
  put(out, message);
  return out.take();
}

// The inverse of encode; throws CorruptDataError naming `what` for bytes encode did not make.
template <typename Message>
Message decode(std::string_view bytes, std::string_view what) {
  MessageReader in(bytes, what);
  Message message{};
  take(in, message);
  in.expect_end();
  return message;
}

}  // namespace cairn::checkpointer
