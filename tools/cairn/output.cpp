#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "command.hpp"

namespace cairn::cli {
namespace {

// The length of the well-formed UTF-8 sequence at text[at] (RFC 3629: no overlong form, no
// surrogate, nothing above U+10FFFF), or 0 when the bytes there are not one.
size_t utf8_length(std::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) return 1;
  // The lead byte fixes the length and the range of the byte after it.
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (text.size() - at < length || byte(at + 1) < low || byte(at + 1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(at + i) < 0x80 || byte(at + i) > 0xBF) return 0;
  }
  return length;
}

std::string hex_escape(const char* prefix, unsigned char value) {
  char text[16];
  std::snprintf(text, sizeof(text), "%s%02x", prefix, value);
  return text;
}

std::string c0_escape(unsigned char byte) {
  switch (byte) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return hex_escape("\\x", byte);
  }
}

// "text" in double quotes, printable; a quote inside shows as \" (printable adds no quote of its
// own, so this stays unambiguous).
std::string printable_quoted(std::string_view text) {
  std::string shown = "\"";
  for (const char c : printable(text)) {
    if (c == '"') shown += '\\';
    shown += c;
  }
  return shown + '"';
}

}  // namespace

std::string printable(std::string_view text) {
  std::string shown;
  shown.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    const auto lead = static_cast<unsigned char>(text[at]);
    const size_t length = utf8_length(text, at);
    if (length == 0) {
      shown += hex_escape("\\x", lead);  // not UTF-8: the byte itself
    } else if (lead < 0x20 || lead == 0x7F) {
      shown += c0_escape(lead);
    } else if (lead == '\\') {
      shown += "\\\\";
    } else if (lead == 0xC2 && static_cast<unsigned char>(text[at + 1]) < 0xA0) {
      shown += hex_escape("\\u00", static_cast<unsigned char>(text[at + 1]));  // C1: U+0080..U+009F
    } else {
      shown.append(text.substr(at, length));
    }
    at += std::max<size_t>(length, 1);
  }
  return shown;
}

std::string local_time(double seconds_since_epoch) {
  std::time_t when = static_cast<std::time_t>(seconds_since_epoch);
  std::tm parts{};
  localtime_r(&when, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &parts);
  return text;
}

namespace {

// JSON text with DEL and C1 controls escaped too: the writer escapes C0 ones only, and a
// terminal may obey the others. JSON holds them only inside strings, and `text` is UTF-8, so a
// 0xC2 byte is always the lead of a character.
std::string escape_del_and_c1(const std::string& text) {
  std::string shown;
  for (size_t at = 0; at < text.size(); ++at) {
    const auto byte = static_cast<unsigned char>(text[at]);
    const auto next = static_cast<unsigned char>(at + 1 < text.size() ? text[at + 1] : '\0');
    if (byte == 0x7F) {
      shown += "\\u007f";
    } else if (byte == 0xC2 && next >= 0x80 && next < 0xA0) {
      shown += hex_escape("\\u00", next);
      ++at;
    } else {
      shown += text[at];
    }
  }
  return shown;
}

}  // namespace

void print_json(const nlohmann::ordered_json& json) {
  // Bytes that are not UTF-8 (a folder's name may hold any) become U+FFFD rather than throwing.
  const std::string text =
      json.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  std::printf("%s\n", escape_del_and_c1(text).c_str());
}

void collect_leaves(const State& state, const std::string& prefix, std::vector<Leaf>& leaves) {
  auto child = [&](const std::string& key) { return prefix.empty() ? key : prefix + "." + key; };
  if (state.is_map() && state.size() > 0) {
    for (const auto& [key, value] : state.items()) collect_leaves(value, child(key), leaves);
  } else if (state.is_list() && state.size() > 0) {
    for (size_t i = 0; i < state.size(); ++i) collect_leaves(state.at(i), child(std::to_string(i)), leaves);
  } else {
    leaves.push_back({prefix, &state});
  }
}

nlohmann::ordered_json scalar_json(const State& value) {
  switch (value.kind()) {
    case State::Kind::Bool: return value.as_bool();
    case State::Kind::Int: return value.as_int();
    case State::Kind::Double: return value.as_double();  // NaN and inf print as null
    case State::Kind::String: return value.as_string();
    case State::Kind::List: return nlohmann::ordered_json::array();
    case State::Kind::Map: return nlohmann::ordered_json::object();
    default: return nullptr;
  }
}

std::string scalar_text(const State& value) {
  switch (value.kind()) {
    case State::Kind::Null: return "null";
    case State::Kind::Bool: return value.as_bool() ? "true" : "false";
    case State::Kind::Int: return std::to_string(value.as_int());
    case State::Kind::Double: {
      char text[40];
      std::snprintf(text, sizeof(text), "%.17g", value.as_double());
      return text;
    }
    case State::Kind::String: return printable_quoted(value.as_string());
    case State::Kind::List: return "[]";
    case State::Kind::Map: return "{}";
    case State::Kind::Tensor: return "tensor";
  }
  return "?";
}

std::vector<StoredState> load_stored(const std::filesystem::path& path) {
  std::vector<std::pair<std::string, std::filesystem::path>> files;
  if (std::filesystem::is_directory(path)) {
    // Found by name, not through the manifest: `show` and `diff` work on a damaged folder too.
    const std::vector<CheckpointFile> found = CheckpointFolder::find_state_files(path);
    if (std::none_of(found.begin(), found.end(), [](const CheckpointFile& file) {
          return file.role != CheckpointFileRole::Shard;
        })) {
      throw InvalidArgumentError(path.string() + " holds no model.safetensors: not a checkpoint",
                                 path);
    }
    // Parts are named by file: "model", "training_state", "shards-rank<r>".
    for (const CheckpointFile& file : found) files.emplace_back(file.path.stem().string(), file.path);
  } else {
    files.emplace_back("", path);
  }
  std::vector<StoredState> stored;
  for (const auto& [part, file] : files) {
    auto opened = SafetensorsFile::open(file, {.verify_checksums = false});
    stored.push_back({part, file, opened.state(), opened.metadata(), opened.has_tree()});
  }
  return stored;
}

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

ProgressBar::ProgressBar(bool enabled)
    : enabled_(enabled && ::isatty(STDERR_FILENO) == 1), started_(now_seconds()) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && last_drawn_ > 0) std::fprintf(stderr, "\r\033[K");
}

void ProgressBar::update(uint64_t done, uint64_t total) {
  if (!enabled_ || total == 0) return;
  const double now = now_seconds();
  if (now - last_drawn_ < 0.1 && done < total) return;
  last_drawn_ = now;
  const double elapsed = std::max(now - started_, 1e-6);
  const double rate = static_cast<double>(done) / elapsed;
  const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  char bar[31];
  const int filled = static_cast<int>(fraction * 30);
  for (int i = 0; i < 30; ++i) bar[i] = i < filled ? '#' : '.';
  bar[30] = '\0';
  const double eta = rate > 0 ? static_cast<double>(total - std::min(done, total)) / rate : 0;
  std::fprintf(stderr, "\r\033[K[%s] %s / %s  %s/s  ETA %.0f s", bar, format_bytes(done).c_str(),
               format_bytes(total).c_str(), format_bytes(static_cast<uint64_t>(rate)).c_str(), eta);
  std::fflush(stderr);
}

}  // namespace cairn::cli
