// The `cairn` command-line tool: one subcommand per file; this header is what they share.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/cairn.hpp"
#include "cairn/text.hpp"

namespace cairn::cli {

// Exit status (docs/design.md section 7).
inline constexpr int kExitGood = 0;
inline constexpr int kExitBadData = 1;
inline constexpr int kExitUsage = 2;

// Each adds its subcommand to `app`; the subcommand sets `exit_code` when it has run.
void add_ls_command(CLI::App& app, int& exit_code);
void add_show_command(CLI::App& app, int& exit_code);
void add_verify_command(CLI::App& app, int& exit_code);
void add_diff_command(CLI::App& app, int& exit_code);
void add_prune_command(CLI::App& app, int& exit_code);

// ---- shared helpers (output.cpp) ----

// `text` (a tensor name, metadata, a path, an error message: anything a file or a folder name
// may have put there) made safe to print on a terminal. Bytes that could move the cursor,
// recolour, retitle or clear it are shown escaped: C0 controls and DEL as \x1b (\n, \r, \t
// as such), C1 controls U+0080..U+009F as \u009b, bytes that are not UTF-8 as \xff; a
// backslash shows as \\, so that escaped text cannot pass for a name that was not. Every line of
// human-readable output goes through it; --json output is escaped by the JSON writer.
std::string printable(std::string_view text);

std::string local_time(double seconds_since_epoch);  // "2026-11-28 22:29:46"
void print_json(const nlohmann::ordered_json& json);

// A leaf of a State tree with its dotted path ("optimizer.state.0.step").
struct Leaf {
  std::string path;
  const State* value;
};
// Every non-container value of `state` (tensors and scalars) in tree order, paths prefixed by
// `prefix`. Empty maps and lists are leaves too, so that they show up.
void collect_leaves(const State& state, const std::string& prefix, std::vector<Leaf>& leaves);
// A scalar leaf as JSON (for --json) and as text (printable, strings in double quotes).
nlohmann::ordered_json scalar_json(const State& value);
std::string scalar_text(const State& value);

// The States stored at `path`: one file (name "") or a checkpoint folder ("model",
// "training_state", then "shards-rank<r>" for each rank's shard file). Tensors view the files; nothing
// is verified.
struct StoredState {
  std::string part;  // "", "model", "training_state" or "shards-rank<r>"
  std::filesystem::path file;
  State state;
  Metadata metadata;
  bool written_by_cairn = false;
};
std::vector<StoredState> load_stored(const std::filesystem::path& path);

// Draws "[#####.....] 1.2 GiB / 3.4 GiB  450 MiB/s  ETA 5 s" on stderr when it is a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled);
  ~ProgressBar();  // clears the line
  void update(uint64_t done, uint64_t total);

 private:
  bool enabled_;
  double started_;
  double last_drawn_ = 0;
};

}  // namespace cairn::cli
