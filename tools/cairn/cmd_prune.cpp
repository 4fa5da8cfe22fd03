// cairn prune DIR: apply the retention rule now, deleting only checkpoints cairn wrote.
#include <cstdio>

#include "command.hpp"

namespace cairn::cli {
namespace {

struct PruneOptions {
  std::filesystem::path dir;
  std::optional<int> keep_last;
  std::optional<double> keep_every;
  bool dry_run = false;
  bool json = false;
};

int run_prune(const PruneOptions& options) {
  const std::vector<PruneDecision> decisions =
      prune_directory(options.dir, options.keep_last, options.keep_every, options.dry_run);
  size_t deleted = 0;
  for (const PruneDecision& decision : decisions) deleted += decision.keep ? 0 : 1;
  if (options.json) {
    nlohmann::ordered_json json;
    json["dir"] = options.dir.string();
    json["dry_run"] = options.dry_run;
    json["decisions"] = nlohmann::ordered_json::array();
    for (const PruneDecision& decision : decisions) {
      json["decisions"].push_back({{"name", decision.name},
                                   {"action", decision.keep ? "keep" : "delete"},
                                   {"reason", decision.reason}});
    }
    print_json(json);
  } else {
    for (const PruneDecision& decision : decisions) {
      std::printf("%-12s %-34s %s\n", decision.keep ? "keep" : (options.dry_run ? "would delete" : "delete"),
                  decision.name.c_str(), decision.reason.c_str());
    }
    std::printf("%s %zu of %zu checkpoint(s)%s\n", options.dry_run ? "would delete" : "deleted",
                deleted, decisions.size(), options.dry_run ? " (dry run: nothing deleted)" : "");
  }
  return kExitGood;
}

}  // namespace

void add_prune_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<PruneOptions>();
  CLI::App* prune = app.add_subcommand(
      "prune", "Apply the directory's retention rule (the last writer's options, or the flags "
               "below) and delete what it says: only checkpoints cairn wrote and recorded. "
               "Refuses to run while a writer holds the directory.\n\n"
               "Example:\n  cairn prune runs/exp1 --keep-last 1 --dry-run");
  prune->add_option("DIR", options->dir, "Serialization directory")->required()->check(CLI::ExistingDirectory);
  prune->add_option("--keep-last", options->keep_last, "Keep this many recent checkpoints (negative: all)");
  prune->add_option("--keep-every", options->keep_every,
                    "Keep one checkpoint for good every this many seconds")->check(CLI::NonNegativeNumber);
  prune->add_flag("--dry-run", options->dry_run, "Print each decision and its reason; delete nothing");
  prune->add_flag("--json", options->json, "Print JSON (fields in docs/cli.md)");
  prune->callback([options, &exit_code] { exit_code = run_prune(*options); });
}

}  // namespace cairn::cli
