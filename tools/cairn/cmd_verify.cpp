// cairn verify PATH: every checksum, size and manifest entry of a file, checkpoint or directory.
#include <cstdio>

#include "command.hpp"

namespace cairn::cli {
namespace {

struct VerifyOptions {
  std::filesystem::path path;
  bool json = false;
};

int run_verify(const VerifyOptions& options) {
  VerifyReport report;
  {
    ProgressBar bar(!options.json);
    report = verify_path(options.path, [&](uint64_t done, uint64_t total) { bar.update(done, total); });
  }
  if (options.json) {
    nlohmann::ordered_json json;
    json["path"] = options.path.string();
    json["ok"] = report.ok();
    json["files"] = report.files;
    json["tensors"] = report.tensors;
    json["bytes"] = report.bytes;
    json["problems"] = nlohmann::ordered_json::array();
    for (const Problem& problem : report.problems) {
      json["problems"].push_back({{"file", problem.file.string()},
                                  {"tensor", problem.tensor.empty() ? nlohmann::ordered_json(nullptr)
                                                                     : nlohmann::ordered_json(problem.tensor)},
                                  {"problem", problem.what}});
    }
    print_json(json);
  } else {
    for (const Problem& problem : report.problems) {
      if (problem.tensor.empty()) {
        std::printf("%s: %s\n", printable(problem.file.string()).c_str(),
                    printable(problem.what).c_str());
      } else {
        std::printf("%s: tensor '%s': %s\n", printable(problem.file.string()).c_str(),
                    printable(problem.tensor).c_str(), printable(problem.what).c_str());
      }
    }
    std::printf("%s: %llu file(s), %llu tensor(s), %s checked: %s\n",
                printable(options.path.string()).c_str(),
                static_cast<unsigned long long>(report.files),
                static_cast<unsigned long long>(report.tensors), format_bytes(report.bytes).c_str(),
                report.ok() ? "OK" : (std::to_string(report.problems.size()) + " problem(s)").c_str());
  }
  return report.ok() ? kExitGood : kExitBadData;
}

}  // namespace

void add_verify_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<VerifyOptions>();
  CLI::App* verify = app.add_subcommand(
      "verify", "Check every checksum, size and manifest entry of a safetensors file, a "
                "checkpoint folder or a whole serialization directory; one line per problem, then "
                "a summary. Exit status 1 if anything is wrong. Shows progress on a terminal.\n\n"
                "Example:\n  cairn verify runs/exp1");
  verify->add_option("PATH", options->path, "File, checkpoint folder or serialization directory")
      ->required()->check(CLI::ExistingPath);
  verify->add_flag("--json", options->json, "Print JSON (fields in docs/cli.md)");
  verify->callback([options, &exit_code] { exit_code = run_verify(*options); });
}

}  // namespace cairn::cli
