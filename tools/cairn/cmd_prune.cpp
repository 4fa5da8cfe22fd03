// cairn prune DIR: apply the retention policies now, deleting only checkpoints cairn wrote.
#include <cstdio>

#include "command.hpp"

namespace cairn::cli {
namespace {

struct PruneOptions {
  std::filesystem::path dir;
  RetentionOverrides overrides;
  std::optional<std::string> mode;
  bool dry_run = false;
  bool json = false;
};

int run_prune(PruneOptions options) {
  if (options.mode) options.overrides.mode = metric_mode_from_name(*options.mode);
  const std::vector<RetentionDecision> decisions =
      prune_directory(options.dir, options.overrides, options.dry_run);
  size_t deleted = 0;
  for (const RetentionDecision& decision : decisions) deleted += decision.keep ? 0 : 1;
  if (options.json) {
    nlohmann::ordered_json json;
    json["dir"] = options.dir.string();
    json["dry_run"] = options.dry_run;
    json["decisions"] = nlohmann::ordered_json::array();
    for (const RetentionDecision& decision : decisions) {
      json["decisions"].push_back({{"name", decision.name},
                                   {"action", decision.keep ? "keep" : "delete"},
                                   {"reason", decision.reason}});
    }
    print_json(json);
  } else {
    for (const RetentionDecision& decision : decisions) {
      std::printf("%-12s %-34s %s\n", decision.keep ? "keep" : (options.dry_run ? "would delete" : "delete"),
                  printable(decision.name).c_str(), printable(decision.reason).c_str());
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
      "prune", "Apply the directory's retention policies (the last writer's options, each "
               "replaced by a flag below when given) and delete what they say: only checkpoints "
               "cairn wrote and recorded. A checkpoint is kept if any policy keeps it; the newest "
               "one whose data verifies is always kept (unless --keep-last 0). Refuses to run "
               "while a writer holds the directory. Rules: docs/retention.md.\n\n"
               "Examples:\n  cairn prune runs/exp1 --keep-last 1 --dry-run\n"
               "  cairn prune runs/exp1 --keep-best-k 3 --metric val_loss --mode min");
  prune->add_option("DIR", options->dir, "Serialization directory")->required()->check(CLI::ExistingDirectory);
  auto& overrides = options->overrides;
  prune->add_option("--keep-last", overrides.num_serialized_models_to_keep,
                    "Keep this many recent checkpoints (negative: all)");
  prune->add_option("--keep-every", overrides.keep_serialized_model_every_num_seconds,
                    "Keep one checkpoint for good every this many seconds")->check(CLI::NonNegativeNumber);
  prune->add_option("--keep-best-k", overrides.keep_best_k,
                    "Keep the K checkpoints with the best --metric value (0: off)")->check(CLI::NonNegativeNumber);
  prune->add_option("--metric", overrides.metric, "The metric --keep-best-k ranks by");
  prune->add_option("--mode", options->mode, "Whether a smaller (min) or larger (max) metric is better")
      ->check(CLI::IsMember({"min", "max"}));
  prune->add_option("--keep-every-n-epochs", overrides.keep_every_n_epochs,
                    "Keep end-of-epoch checkpoints whose epoch is a multiple of N (0: off)")->check(CLI::NonNegativeNumber);
  prune->add_flag("--dry-run", options->dry_run, "Print each decision and the policies that made it; delete nothing");
  prune->add_flag("--json", options->json, "Print JSON (fields in docs/cli.md)");
  prune->callback([options, &exit_code] { exit_code = run_prune(*options); });
}

}  // namespace cairn::cli
