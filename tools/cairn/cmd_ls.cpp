// cairn ls DIR: a serialization directory's checkpoints in save order.
#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>

#include "command.hpp"

namespace cairn::cli {
namespace {

struct LsOptions {
  std::filesystem::path dir;
  bool verify = false;
  bool json = false;
};

// A line of the listing: a checkpoint that opens, or a damaged one (status "BAD: ...").
struct Row {
  const CheckpointInfo* info;
  std::optional<std::string> status;  // "ok" or "BAD: <first problem>"; none when not verified
  bool damaged = false;
  std::string retention;  // why retention keeps it
};

std::string bad(const std::string& problem) { return "BAD: " + problem; }

std::string verified_status(const CheckpointInfo& info) {
  const VerifyReport report = verify_path(info.paths.dir);
  return report.ok() ? "ok" : bad(report.problems.front().what);
}

// Every checkpoint of the listing in save order with why retention keeps it: damaged ones too,
// with or without --verify (they are found without reading any data); with it, each verified.
std::vector<Row> rows_of(const LsOptions& options, const DirectoryListing& listing) {
  std::vector<Row> rows;
  for (const CheckpointInfo& info : listing.checkpoints) {
    rows.push_back({&info, options.verify ? std::optional(verified_status(info)) : std::nullopt,
                    false, ""});
  }
  for (const DamagedCheckpoint& damaged : listing.damaged) {
    rows.push_back({&damaged.info, bad(damaged.problem), true, ""});
  }
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a.info->seq < b.info->seq; });
  std::map<std::string, std::string> retention;
  for (const RetentionDecision& decision : explain_directory(options.dir)) {
    retention[decision.name] = decision.reason;
  }
  for (Row& row : rows) row.retention = retention[row.info->name];
  return rows;
}

bool any_bad(const std::vector<Row>& rows) {
  return std::any_of(rows.begin(), rows.end(),
                     [](const Row& row) { return row.status && row.status->starts_with("BAD"); });
}

std::vector<std::string> flags_of(const DirectoryListing& listing, const CheckpointInfo& info) {
  std::vector<std::string> flags;
  if (listing.latest == info.name) flags.push_back("latest");
  if (info.is_best) flags.push_back("best");
  if (info.permanent) flags.push_back("kept-for-good");
  if (info.shard_files > 0) flags.push_back("sharded:" + std::to_string(info.shard_files));
  return flags;
}

std::string metrics_text(const Metrics& metrics) {
  std::string text;
  for (const auto& [name, value] : metrics) {
    text += (text.empty() ? "" : ",") + name + "=" + format_value(value);
  }
  return text.empty() ? "-" : text;
}

nlohmann::ordered_json row_json(const DirectoryListing& listing, const Row& row) {
  const CheckpointInfo& info = *row.info;
  nlohmann::ordered_json entry;
  entry["name"] = info.name;
  entry["path"] = info.paths.dir.string();
  entry["seq"] = info.seq;
  entry["epoch"] = info.epoch;
  entry["batches_this_epoch"] =
      info.batches_this_epoch ? nlohmann::ordered_json(*info.batches_this_epoch) : nullptr;
  entry["save_time"] = info.save_time;
  entry["size_bytes"] = row.damaged ? nullptr : nlohmann::ordered_json(info.size_bytes);
  entry["flags"] = flags_of(listing, info);
  entry["metrics"] = info.metrics;
  entry["retention"] = row.retention;
  if (row.status) entry["status"] = *row.status;
  return entry;
}

void print_ls_json(const LsOptions& options, const DirectoryListing& listing,
                   const std::vector<Row>& rows) {
  nlohmann::ordered_json json;
  json["dir"] = options.dir.string();
  json["writer_pid"] = listing.writer_pid ? nlohmann::ordered_json(*listing.writer_pid) : nullptr;
  json["checkpoints"] = nlohmann::ordered_json::array();
  for (const Row& row : rows) json["checkpoints"].push_back(row_json(listing, row));
  json["others"] = nlohmann::ordered_json::array();
  for (const ForeignEntry& other : listing.others) {
    json["others"].push_back({{"path", other.path.string()}, {"kind", other.kind}});
  }
  print_json(json);
}

void print_row(const DirectoryListing& listing, const Row& row, bool with_status) {
  const CheckpointInfo& info = *row.info;
  std::string flags;
  for (const std::string& flag : flags_of(listing, info)) {
    flags += (flags.empty() ? "" : ",") + flag;
  }
  std::printf("%-34s %5lld %6s  %-19s %10s  %-20s %-20s %s%s%s\n", printable(info.name).c_str(),
              static_cast<long long>(info.epoch),
              info.batches_this_epoch ? std::to_string(*info.batches_this_epoch).c_str() : "end",
              info.save_time > 0 ? local_time(info.save_time).c_str() : "-",
              row.damaged ? "-" : format_bytes(info.size_bytes).c_str(),
              flags.empty() ? "-" : flags.c_str(), printable(metrics_text(info.metrics)).c_str(),
              printable(row.retention).c_str(), with_status ? "  " : "",
              with_status ? printable(row.status.value_or("not verified")).c_str() : "");
}

void print_ls_text(const LsOptions& options, const DirectoryListing& listing,
                   const std::vector<Row>& rows) {
  const std::string damaged =
      listing.damaged.empty() ? "" : ", " + std::to_string(listing.damaged.size()) + " damaged";
  const std::string writer = listing.writer_pid ? ", a writer is active (pid " +
                                                      std::to_string(*listing.writer_pid) + ")"
                                                : "";
  std::printf("%s: %zu checkpoint(s)%s%s\n", printable(options.dir.string()).c_str(), rows.size(),
              damaged.c_str(), writer.c_str());
  // Without --verify, the column is there only to say why a damaged checkpoint is BAD.
  const bool with_status = options.verify || !listing.damaged.empty();
  if (!rows.empty()) {
    std::printf("%-34s %5s %6s  %-19s %10s  %-20s %-20s %s%s\n", "NAME", "EPOCH", "BATCH",
                "SAVED", "SIZE", "FLAGS", "METRICS", "RETENTION", with_status ? "  STATUS" : "");
  }
  for (const Row& row : rows) print_row(listing, row, with_status);
  for (const ForeignEntry& other : listing.others) {
    std::printf("  (%s) %s\n", other.kind.c_str(), printable(other.path.string()).c_str());
  }
}

int run_ls(const LsOptions& options) {
  const DirectoryListing listing = list_directory(options.dir);
  const std::vector<Row> rows = rows_of(options, listing);
  if (options.json) {
    print_ls_json(options, listing, rows);
  } else {
    print_ls_text(options, listing, rows);
  }
  // Without --verify nothing was checked: a listing, not a verdict.
  return options.verify && any_bad(rows) ? kExitBadData : kExitGood;
}

}  // namespace

void add_ls_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<LsOptions>();
  CLI::App* ls = app.add_subcommand(
      "ls", "List a serialization directory's checkpoints in save order, with epoch, batch, save "
            "time, size, flags (latest, best, kept-for-good, sharded:<ranks that wrote pieces>), metrics and why retention keeps it "
            "(the last writer's policies); also staging leftovers and entries cairn does not own. "
            "A checkpoint whose folder cannot be opened is listed as BAD.\n\n"
            "Example:\n  cairn ls runs/exp1 --verify");
  ls->add_option("DIR", options->dir, "Serialization directory")->required()->check(CLI::ExistingDirectory);
  ls->add_flag("--verify", options->verify,
               "Verify each checkpoint and show a status column; exit 1 if any is BAD");
  ls->add_flag("--json", options->json, "Print JSON (fields in docs/cli.md)");
  ls->callback([options, &exit_code] { exit_code = run_ls(*options); });
}

}  // namespace cairn::cli
