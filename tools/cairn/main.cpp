// cairn: inspect, verify, compare and prune checkpoints. Exit status: 0 good; 1 the data is bad
// (corrupt, incomplete, different); 2 usage or environment error.
#include <cstdio>
#include <sstream>
#include <string>

#include "cairn/version.hpp"
#include "command.hpp"

namespace {

// Messages name paths, keys and tensors a hostile file chose: printed escaped.
void report(const std::exception& error) {
  std::fprintf(stderr, "cairn: %s\n", cairn::cli::printable(error.what()).c_str());
}

// Help, the version or a usage error from CLI11: a usage error repeats the arguments, which may
// be names a hostile folder chose (a shell glob), so each line is printed escaped too.
int report_usage(const CLI::App& app, const CLI::ParseError& error) {
  std::ostringstream out, err;
  const int code = app.exit(error, out, err);
  for (auto [text, stream] : {std::pair{out.str(), stdout}, std::pair{err.str(), stderr}}) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      std::fprintf(stream, "%s\n", cairn::cli::printable(line).c_str());
    }
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairn: inspect, verify, compare and prune training checkpoints.\n"
               "Exit status: 0 good; 1 the data is bad (corrupt, incomplete, different); "
               "2 usage or environment error.",
               "cairn"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::to_string(cairn::kVersionMajor) + "." +
                                        std::to_string(cairn::kVersionMinor) + "." +
                                        std::to_string(cairn::kVersionPatch));
  int exit_code = cairn::cli::kExitGood;
  cairn::cli::add_ls_command(app, exit_code);
  cairn::cli::add_show_command(app, exit_code);
  cairn::cli::add_verify_command(app, exit_code);
  cairn::cli::add_diff_command(app, exit_code);
  cairn::cli::add_prune_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = report_usage(app, error);
    return code == 0 ? cairn::cli::kExitGood : cairn::cli::kExitUsage;
  } catch (const cairn::CorruptDataError& error) {
    report(error);
    return cairn::cli::kExitBadData;
  } catch (const std::exception& error) {
    report(error);
    return cairn::cli::kExitUsage;
  }
  return exit_code;
}
