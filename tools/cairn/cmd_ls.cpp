// cairn ls DIR: a serialization directory's checkpoints in save order.
#include <cstdio>
#include <map>

#include "command.hpp"

namespace cairn::cli {
namespace {

struct LsOptions {
  std::filesystem::path dir;
  bool verify = false;
  bool json = false;
};

std::string metrics_text(const Metrics& metrics) {
  std::string text;
  for (const auto& [name, value] : metrics) {
    text += (text.empty() ? "" : ",") + name + "=" + format_value(value);
  }
  return text.empty() ? "-" : text;
}

int run_ls(const LsOptions& options) {
  const DirectoryListing listing = list_directory(options.dir);
  std::map<std::string, std::string> retention;  // why each is kept
  for (const RetentionDecision& decision : explain_directory(options.dir)) {
    retention[decision.name] = decision.reason;
  }
  std::vector<std::string> statuses;
  bool all_good = true;
  for (const CheckpointInfo& info : listing.checkpoints) {
    if (!options.verify) break;
    VerifyReport report = verify_path(info.paths.dir);
    all_good = all_good && report.ok();
    statuses.push_back(report.ok() ? "ok" : "BAD: " + report.problems.front().what);
  }
  auto flags_of = [&](const CheckpointInfo& info) {
    std::vector<std::string> flags;
    if (listing.latest == info.name) flags.push_back("latest");
    if (info.is_best) flags.push_back("best");
    if (info.permanent) flags.push_back("kept-for-good");
    if (info.shard_files > 0) flags.push_back("sharded:" + std::to_string(info.shard_files));
    return flags;
  };

  if (options.json) {
    nlohmann::ordered_json json;
    json["dir"] = options.dir.string();
    json["writer_pid"] = listing.writer_pid ? nlohmann::ordered_json(*listing.writer_pid) : nullptr;
    json["checkpoints"] = nlohmann::ordered_json::array();
    for (size_t i = 0; i < listing.checkpoints.size(); ++i) {
      const CheckpointInfo& info = listing.checkpoints[i];
      nlohmann::ordered_json entry;
      entry["name"] = info.name;
      entry["path"] = info.paths.dir.string();
      entry["seq"] = info.seq;
      entry["epoch"] = info.epoch;
      entry["batches_this_epoch"] =
          info.batches_this_epoch ? nlohmann::ordered_json(*info.batches_this_epoch) : nullptr;
      entry["save_time"] = info.save_time;
      entry["size_bytes"] = info.size_bytes;
      entry["flags"] = flags_of(info);
      entry["metrics"] = info.metrics;
      entry["retention"] = retention[info.name];
      if (options.verify) entry["status"] = statuses[i];
      json["checkpoints"].push_back(entry);
    }
    json["others"] = nlohmann::ordered_json::array();
    for (const ForeignEntry& other : listing.others) {
      json["others"].push_back({{"path", other.path.string()}, {"kind", other.kind}});
    }
    print_json(json);
  } else {
    std::printf("%s: %zu checkpoint(s)%s\n", options.dir.c_str(), listing.checkpoints.size(),
                listing.writer_pid ? (", a writer is active (pid " +
                                      std::to_string(*listing.writer_pid) + ")").c_str()
                                   : "");
    if (!listing.checkpoints.empty()) {
      std::printf("%-34s %5s %6s  %-19s %10s  %-20s %-20s %s%s\n", "NAME", "EPOCH", "BATCH",
                  "SAVED", "SIZE", "FLAGS", "METRICS", "RETENTION", options.verify ? "  STATUS" : "");
    }
    for (size_t i = 0; i < listing.checkpoints.size(); ++i) {
      const CheckpointInfo& info = listing.checkpoints[i];
      std::string flags;
      for (const std::string& flag : flags_of(info)) flags += (flags.empty() ? "" : ",") + flag;
      std::printf("%-34s %5lld %6s  %-19s %10s  %-20s %-20s %s%s%s\n", info.name.c_str(),
                  static_cast<long long>(info.epoch),
                  info.batches_this_epoch ? std::to_string(*info.batches_this_epoch).c_str() : "end",
                  local_time(info.save_time).c_str(), format_bytes(info.size_bytes).c_str(),
                  flags.empty() ? "-" : flags.c_str(), metrics_text(info.metrics).c_str(),
                  retention[info.name].c_str(), options.verify ? "  " : "",
                  options.verify ? statuses[i].c_str() : "");
    }
    for (const ForeignEntry& other : listing.others) {
      std::printf("  (%s) %s\n", other.kind.c_str(), other.path.c_str());
    }
  }
  return all_good ? kExitGood : kExitBadData;
}

}  // namespace

void add_ls_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<LsOptions>();
  CLI::App* ls = app.add_subcommand(
      "ls", "List a serialization directory's checkpoints in save order, with epoch, batch, save "
            "time, size, flags (latest, best, kept-for-good, sharded:<ranks that wrote pieces>), metrics and why retention keeps it "
            "(the last writer's policies); also staging leftovers and entries cairn does not own.\n\nExample:\n  cairn ls runs/exp1 --verify");
  ls->add_option("DIR", options->dir, "Serialization directory")->required()->check(CLI::ExistingDirectory);
  ls->add_flag("--verify", options->verify, "Verify each checkpoint and show a status column");
  ls->add_flag("--json", options->json, "Print JSON (fields in docs/cli.md)");
  ls->callback([options, &exit_code] { exit_code = run_ls(*options); });
}

}  // namespace cairn::cli
