// cairn show PATH: what a checkpoint folder or a safetensors file holds.
#include <fnmatch.h>

#include <cstdio>

#include "command.hpp"

namespace cairn::cli {
namespace {

struct ShowOptions {
  std::filesystem::path path;
  std::string tensors_glob;
  bool stats = false;
  bool json = false;
};

nlohmann::ordered_json stats_json(const TensorStats& stats) {
  return {{"min", stats.min}, {"max", stats.max}, {"mean", stats.mean},
          {"nan", stats.nan}, {"inf", stats.inf}};
}

int run_show(const ShowOptions& options) {
  const std::vector<StoredState> stored = load_stored(options.path);
  nlohmann::ordered_json json;
  json["path"] = options.path.string();
  json["files"] = nlohmann::ordered_json::array();
  for (const StoredState& part : stored) {
    std::vector<Leaf> leaves;
    collect_leaves(part.state, "", leaves);
    nlohmann::ordered_json file;
    file["file"] = part.file.string();
    file["written_by_cairn"] = part.written_by_cairn;
    file["metadata"] = part.metadata;
    file["tensors"] = nlohmann::ordered_json::array();
    file["values"] = nlohmann::ordered_json::array();
    if (!options.json) {
      std::printf("%s (%s, %s)\n", printable(part.file.string()).c_str(),
                  format_bytes(std::filesystem::file_size(part.file)).c_str(),
                  part.written_by_cairn ? "written by cairn" : "written by another tool");
      for (const auto& [key, value] : part.metadata) {
        // A shard file's block checksums are long and for machines (they stay in --json).
        if (key.starts_with("shard.xxh3_blocks.")) continue;
        std::printf("  metadata %s = %s\n", printable(key).c_str(), printable(value).c_str());
      }
    }
    for (const Leaf& leaf : leaves) {
      const bool is_tensor = leaf.value->is_tensor();
      if (!options.tensors_glob.empty() &&
          (!is_tensor || ::fnmatch(options.tensors_glob.c_str(), leaf.path.c_str(), 0) != 0)) {
        continue;
      }
      if (!is_tensor) {
        file["values"].push_back({{"name", leaf.path}, {"value", scalar_json(*leaf.value)}});
        if (!options.json) {
          std::printf("  %-44s %s\n", printable(leaf.path).c_str(),
                      scalar_text(*leaf.value).c_str());
        }
        continue;
      }
      const Tensor& tensor = leaf.value->as_tensor();
      nlohmann::ordered_json entry = {{"name", leaf.path},
                                      {"dtype", std::string(dtype_name(tensor.dtype()))},
                                      {"shape", tensor.shape()},
                                      {"bytes", tensor.nbytes()}};
      std::string stats_text;
      if (options.stats && is_floating(tensor.dtype())) {
        const TensorStats stats = tensor_stats(tensor);
        entry["stats"] = stats_json(stats);
        char text[160];
        std::snprintf(text, sizeof(text), "  min %.6g max %.6g mean %.6g nan %llu inf %llu",
                      stats.min, stats.max, stats.mean, static_cast<unsigned long long>(stats.nan),
                      static_cast<unsigned long long>(stats.inf));
        stats_text = text;
      }
      file["tensors"].push_back(entry);
      if (!options.json) {
        std::printf("  %-44s %-8s %-16s %10s%s\n", printable(leaf.path).c_str(),
                    std::string(dtype_name(tensor.dtype())).c_str(), format_shape(tensor.shape()).c_str(),
                    format_bytes(tensor.nbytes()).c_str(), stats_text.c_str());
      }
    }
    json["files"].push_back(file);
  }
  if (options.json) print_json(json);
  return kExitGood;
}

}  // namespace

void add_show_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ShowOptions>();
  CLI::App* show = app.add_subcommand(
      "show", "Show a checkpoint folder or a safetensors file (also one another tool wrote): "
              "metadata, then every value and tensor with dtype, shape and size.\n\n"
              "Examples:\n  cairn show runs/exp1/checkpoints/ckpt-0000000007-epoch3-end\n"
              "  cairn show model.safetensors --tensors 'fc1.*' --stats");
  show->add_option("PATH", options->path, "Checkpoint folder or .safetensors file")
      ->required()->check(CLI::ExistingPath);
  show->add_option("--tensors", options->tensors_glob,
                   "Only tensors whose dotted name matches this glob (fnmatch)");
  show->add_flag("--stats", options->stats,
                 "Add min, max, mean and NaN/inf counts of floating tensors (reads their data)");
  show->add_flag("--json", options->json, "Print JSON (fields in docs/cli.md)");
  show->callback([options, &exit_code] { exit_code = run_show(*options); });
}

}  // namespace cairn::cli
