// cairn: inspect, verify, compare and prune checkpoints. Exit status: 0 good; 1 the data is bad
// (corrupt, incomplete, different); 2 usage or environment error.
#include <cstdio>

#include "cairn/version.hpp"
#include "command.hpp"

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
    const int code = app.exit(error);  // prints help, the version or the usage error
    return code == 0 ? cairn::cli::kExitGood : cairn::cli::kExitUsage;
  } catch (const cairn::CorruptDataError& error) {
    std::fprintf(stderr, "cairn: %s\n", error.what());
    return cairn::cli::kExitBadData;
  } catch (const cairn::Error& error) {
    std::fprintf(stderr, "cairn: %s\n", error.what());
    return cairn::cli::kExitUsage;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cairn: %s\n", error.what());
    return cairn::cli::kExitUsage;
  }
  return exit_code;
}
