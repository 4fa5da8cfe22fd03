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

// Appends fields to a message.
class MessageWriter {
 public:
  void put_u8(uint8_t value) { bytes_.push_back(static_cast<char>(value)); }
  void put_u64(uint64_t value);
  void put_i64(int64_t value) { put_u64(static_cast<uint64_t>(value)); }
  void put_text(std::string_view text);
  void put_texts(const std::vector<std::string>& texts);
  void put_i64s(const std::vector<int64_t>& values);
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
  int64_t i64() { return static_cast<int64_t>(u64()); }
  std::string text();
  std::vector<std::string> texts();
  std::vector<int64_t> i64s();
  // The count of a list that follows, bounded by the bytes left (each element takes one at least).
  uint64_t count();
  void expect_end() const;

 private:
  std::string_view take(uint64_t size);
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

std::string encode(const Done& message);
std::string encode(bool message);
std::string encode(const Choice& message);
std::string encode(const SaveStart& message);
std::string encode(const WrittenFiles& message);
std::string encode(const ReadVerdict& message);

// decode<T>(bytes, what) is the inverse of encode(T).
template <typename Message>
Message decode(std::string_view bytes, std::string_view what);
template <>
Done decode<Done>(std::string_view bytes, std::string_view what);
template <>
bool decode<bool>(std::string_view bytes, std::string_view what);
template <>
Choice decode<Choice>(std::string_view bytes, std::string_view what);
template <>
SaveStart decode<SaveStart>(std::string_view bytes, std::string_view what);
template <>
WrittenFiles decode<WrittenFiles>(std::string_view bytes, std::string_view what);
template <>
ReadVerdict decode<ReadVerdict>(std::string_view bytes, std::string_view what);

}  // namespace cairn::checkpointer
