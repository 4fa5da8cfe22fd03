#include "checkpointer/rank_messages.hpp"

#include "cairn/error.hpp"

namespace cairn::checkpointer {

void MessageWriter::put_u64(uint64_t value) {
  for (int byte = 0; byte < 8; ++byte) put_u8(static_cast<uint8_t>(value >> (8 * byte)));
}

void MessageWriter::put_text(std::string_view text) {
  put_u64(text.size());
  bytes_.append(text);
}

void MessageWriter::put_texts(const std::vector<std::string>& texts) {
  put_u64(texts.size());
  for (const std::string& text : texts) put_text(text);
}

void MessageWriter::put_i64s(const std::vector<int64_t>& values) {
  put_u64(values.size());
  for (int64_t value : values) put_i64(value);
}

std::string_view MessageReader::take(uint64_t size) {
  if (size > bytes_.size()) {
    throw CorruptDataError("(" + what_ + ")", "a rank's message is cut short");
  }
  std::string_view taken = bytes_.substr(0, size);
  bytes_.remove_prefix(size);
  return taken;
}

uint8_t MessageReader::u8() { return static_cast<uint8_t>(take(1)[0]); }

uint64_t MessageReader::u64() {
  const std::string_view bytes = take(8);
  uint64_t value = 0;
  for (int byte = 0; byte < 8; ++byte) {
    value |= uint64_t{static_cast<uint8_t>(bytes[byte])} << (8 * byte);
  }
  return value;
}

std::string MessageReader::text() { return std::string(take(u64())); }

uint64_t MessageReader::count() {
  const uint64_t n = u64();
  if (n > bytes_.size()) throw CorruptDataError("(" + what_ + ")", "a rank's message is cut short");
  return n;
}

std::vector<std::string> MessageReader::texts() {
  std::vector<std::string> texts(count());
  for (std::string& text : texts) text = this->text();
  return texts;
}

std::vector<int64_t> MessageReader::i64s() {
  std::vector<int64_t> values(count());
  for (int64_t& value : values) value = i64();
  return values;
}

void MessageReader::expect_end() const {
  if (!bytes_.empty()) {
    throw CorruptDataError("(" + what_ + ")", "a rank's message has bytes past its end");
  }
}

std::string encode(const Done&) { return {}; }

std::string encode(bool message) { return std::string(1, message ? '\1' : '\0'); }

std::string encode(const Choice& message) {
  MessageWriter out;
  out.put_u8(message ? 1 : 0);
  if (message) out.put_text(*message);
  return out.take();
}

std::string encode(const SaveStart& message) {
  MessageWriter out;
  out.put_text(message.staging_dir);
  out.put_u64(message.sharded_paths.size());
  for (const StatePath& path : message.sharded_paths) out.put_texts(path);
  return out.take();
}

std::string encode(const WrittenFiles& message) {
  MessageWriter out;
  out.put_u64(message.files.size());
  for (const auto& file : message.files) {
    out.put_text(file.name);
    out.put_u64(file.size);
    out.put_u64(file.xxh3);
  }
  out.put_u64(message.sharded.size());
  for (const auto& layout : message.sharded) {
    out.put_texts(layout.path);
    out.put_text(layout.dtype);
    out.put_i64s(layout.global_shape);
    out.put_u64(layout.pieces.size());
    for (const auto& piece : layout.pieces) {
      out.put_text(piece.file);
      out.put_text(piece.tensor);
      out.put_i64s(piece.offsets);
      out.put_i64s(piece.shape);
    }
  }
  return out.take();
}

std::string encode(const ReadVerdict& message) {
  MessageWriter out;
  out.put_u8(static_cast<uint8_t>(message.kind));
  out.put_text(message.problem);
  return out.take();
}

template <>
Done decode<Done>(std::string_view bytes, std::string_view what) {
  MessageReader(bytes, what).expect_end();
  return {};
}

template <>
bool decode<bool>(std::string_view bytes, std::string_view what) {
  MessageReader in(bytes, what);
  const uint8_t value = in.u8();
  in.expect_end();
  return value != 0;
}

template <>
Choice decode<Choice>(std::string_view bytes, std::string_view what) {
  MessageReader in(bytes, what);
  Choice choice;
  if (in.u8() != 0) choice = in.text();
  in.expect_end();
  return choice;
}

template <>
SaveStart decode<SaveStart>(std::string_view bytes, std::string_view what) {
  MessageReader in(bytes, what);
  SaveStart start;
  start.staging_dir = in.text();
  start.sharded_paths.resize(in.count());
  for (StatePath& path : start.sharded_paths) path = in.texts();
  in.expect_end();
  return start;
}

template <>
WrittenFiles decode<WrittenFiles>(std::string_view bytes, std::string_view what) {
  MessageReader in(bytes, what);
  WrittenFiles written;
  written.files.resize(in.count());
  for (auto& file : written.files) {
    file.name = in.text();
    file.size = in.u64();
    file.xxh3 = in.u64();
  }
  written.sharded.resize(in.count());
  for (auto& layout : written.sharded) {
    layout.path = in.texts();
    layout.dtype = in.text();
    layout.global_shape = in.i64s();
    layout.pieces.resize(in.count());
    for (auto& piece : layout.pieces) {
      piece.file = in.text();
      piece.tensor = in.text();
      piece.offsets = in.i64s();
      piece.shape = in.i64s();
    }
  }
  in.expect_end();
  return written;
}

template <>
ReadVerdict decode<ReadVerdict>(std::string_view bytes, std::string_view what) {
  MessageReader in(bytes, what);
  ReadVerdict verdict;
  const uint8_t kind = in.u8();
  if (kind > static_cast<uint8_t>(ReadVerdict::Kind::Corrupt)) {
    throw CorruptDataError("(" + std::string(what) + ")", "a rank's verdict is of no known kind");
  }
  verdict.kind = static_cast<ReadVerdict::Kind>(kind);
  verdict.problem = in.text();
  in.expect_end();
  return verdict;
}

}  // namespace cairn::checkpointer
