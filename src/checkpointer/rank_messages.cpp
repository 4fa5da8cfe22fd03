#include "checkpointer/rank_messages.hpp"

#include "cairn/error.hpp"

namespace cairn::checkpointer {

void MessageWriter::put_u64(uint64_t value) {
  for (int byte = 0; byte < 8; ++byte) put_u8(static_cast<uint8_t>(value >> (8 * byte)));
}

void MessageReader::fail(const std::string& why) const {
  throw CorruptDataError("(" + what_ + ")", why);
}

std::string_view MessageReader::bytes(uint64_t size) {
  if (size > bytes_.size()) fail("a rank's message is cut short");
  std::string_view taken = bytes_.substr(0, size);
  bytes_.remove_prefix(size);
  return taken;
}

uint8_t MessageReader::u8() { return static_cast<uint8_t>(bytes(1)[0]); }

uint64_t MessageReader::u64() {
  const std::string_view eight = bytes(8);
  uint64_t value = 0;
  for (int byte = 0; byte < 8; ++byte) {
    value |= uint64_t{static_cast<uint8_t>(eight[byte])} << (8 * byte);
  }
  return value;
}

uint64_t MessageReader::count() {
  const uint64_t n = u64();
  if (n > bytes_.size()) fail("a rank's message is cut short");
  return n;
}

void MessageReader::expect_end() const {
  if (!bytes_.empty()) fail("a rank's message has bytes past its end");
}

void put(MessageWriter& out, bool value) { out.put_u8(value ? 1 : 0); }
void take(MessageReader& in, bool& value) { value = in.u8() != 0; }
void put(MessageWriter& out, uint64_t value) { out.put_u64(value); }
void take(MessageReader& in, uint64_t& value) { value = in.u64(); }
void put(MessageWriter& out, int64_t value) { out.put_u64(static_cast<uint64_t>(value)); }
void take(MessageReader& in, int64_t& value) { value = static_cast<int64_t>(in.u64()); }

void put(MessageWriter& out, const std::string& value) {
  out.put_u64(value.size());
  out.put_bytes(value);
}
void take(MessageReader& in, std::string& value) { value = std::string(in.bytes(in.u64())); }

void put(MessageWriter& out, const checkpoint::ManifestFile& value) {
  put(out, value.name);
  put(out, value.size);
  put(out, value.xxh3);
}
void take(MessageReader& in, checkpoint::ManifestFile& value) {
  take(in, value.name);
  take(in, value.size);
  take(in, value.xxh3);
}

void put(MessageWriter& out, const checkpoint::ShardPiece& value) {
  put(out, value.file);
  put(out, value.tensor);
  put(out, value.offsets);
  put(out, value.shape);
}
void take(MessageReader& in, checkpoint::ShardPiece& value) {
  take(in, value.file);
  take(in, value.tensor);
  take(in, value.offsets);
  take(in, value.shape);
}

void put(MessageWriter& out, const checkpoint::ShardedTensorLayout& value) {
  put(out, value.path);
  put(out, value.dtype);
  put(out, value.global_shape);
  put(out, value.pieces);
}
void take(MessageReader& in, checkpoint::ShardedTensorLayout& value) {
  take(in, value.path);
  take(in, value.dtype);
  take(in, value.global_shape);
  take(in, value.pieces);
}

void put(MessageWriter&, const Done&) {}
void take(MessageReader&, Done&) {}

void put(MessageWriter& out, const SaveStart& value) {
  put(out, value.staging_dir);
  put(out, value.sharded_paths);
}
void take(MessageReader& in, SaveStart& value) {
  take(in, value.staging_dir);
  take(in, value.sharded_paths);
}

void put(MessageWriter& out, const WrittenFiles& value) {
  put(out, value.files);
  put(out, value.sharded);
}
void take(MessageReader& in, WrittenFiles& value) {
  take(in, value.files);
  take(in, value.sharded);
}

void put(MessageWriter& out, const ReadVerdict& value) {
  out.put_u8(static_cast<uint8_t>(value.kind));
  put(out, value.problem);
}
void take(MessageReader& in, ReadVerdict& value) {
  const uint8_t kind = in.u8();
  if (kind > static_cast<uint8_t>(ReadVerdict::Kind::Corrupt)) {
    in.fail("a rank's verdict is of no known kind");
  }
  value.kind = static_cast<ReadVerdict::Kind>(kind);
  take(in, value.problem);
}

}  // namespace cairn::checkpointer
