// cairn-bench: cairn against the raw disk, memcpy, LibTorch and Python's torch, on the same
// bytes, in one run, contenders interleaved (their order rotates each repetition), medians of
// the repetitions; then the issue's targets as ratios of those medians. docs/performance.md
// explains every row. Run by bench/performance.sh.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include "cairn_contender.hpp"
#include "measure.hpp"
#include "names.hpp"
#include "raw_io.hpp"
#include "targets.hpp"
#include "torch_contender.hpp"

namespace bench {
namespace {

struct Settings {
  std::filesystem::path dir;
  int repeat = 5;
  uint64_t mib = 1024;
  std::vector<std::string> workloads = {"a", "b", "c"};
  std::vector<uint64_t> linear = {256, 1024, 4096};
  std::string python;
  std::filesystem::path json;
  bool cold = true;
};

void progress(const std::string& text) {
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

// One repetition of the Python contender: a child process that saves, then loads.
void python_round(const Settings& settings, const Workload& workload, Results& results) {
  const std::filesystem::path spec = settings.dir / ("spec-" + workload.key + ".json");
  if (!std::filesystem::exists(spec)) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const TensorSpec& tensor : workload.tensors) tensors.push_back({tensor.name, tensor.shape});
    std::ofstream(spec) << nlohmann::json{{"tensors", tensors}}.dump();
  }
  const std::filesystem::path script =
      std::filesystem::path(CAIRN_BENCH_SOURCE_DIR) / "torch_python.py";
  const ChildRun run = run_child({settings.python, script.string(), spec.string(),
                                  (settings.dir / ("python-" + workload.key + ".pt")).string()});
  const nlohmann::json figures = nlohmann::json::parse(run.output);
  record_seconds(results.row(workload.key, names::kTorchPySave, "touched", workload.bytes()),
                 figures.at("save").get<double>(), figures.at("save_peak_growth").get<uint64_t>());
  record_seconds(results.row(workload.key, names::kTorchPyLoad, "new", workload.bytes()),
                 figures.at("load").get<double>(), figures.at("load_peak_growth").get<uint64_t>());
}

// Every contender of one workload, `settings.repeat` times, in a rotating order.
void run_workload(const Settings& settings, const Workload& workload, bool full, Results& results) {
  progress("== workload " + workload.key + ": " + workload.description + "; " + memory_state());
  const Materialized state(workload);
  const uint64_t bytes = workload.bytes();
  const std::filesystem::path blob = settings.dir / ("raw-" + workload.key + ".bin");
  const std::filesystem::path copy = settings.dir / ("copy-" + workload.key + ".bin");
  write_and_fsync(state.tensors(), blob);  // dd's source, fio's cold-read file
  std::vector<std::byte> touched(bytes, std::byte{1});
  CairnContender cairn(settings.dir, workload.key, state, bytes);

  std::vector<std::function<void()>> contenders = {
      [&] { cairn.save_open_restore(results); },
      [&] {
        std::filesystem::remove(copy);
        record(results.row(workload.key, names::kWrite, "touched", bytes),
               [&] { write_and_fsync(state.tensors(), copy); });
        std::filesystem::remove(copy);
        record_seconds(results.row(workload.key, names::kDd, "page cache", bytes), dd_write(blob, copy));
        std::filesystem::remove(copy);
      },
      [&] { cairn.async_save(results); },
      [&] {
        touch_pages(state.tensors());
        touch_pages(touched);
        record(results.row(workload.key, names::kMemcpy, "touched", bytes),
               [&] { copy_all(state.tensors(), touched); });
        record_seconds(results.row(workload.key, names::kDdReadWarm, "page cache", bytes), dd_read(blob));
      },
  };
  if (full) {
    contenders.push_back([&] {
      for (bool direct : {false, true}) {
        std::filesystem::remove(copy);
        if (auto seconds = fio_write(copy, bytes, direct)) {
          record_seconds(results.row(workload.key, direct ? names::kFioDirect : names::kFioBuffered,
                                     direct ? "fio's buffer" : "fio's buffer", bytes),
                         *seconds);
        }
      }
      std::filesystem::remove(copy);
    });
    contenders.push_back([&] { torch_cpp_round(settings.dir, workload, state, results); });
    if (!settings.python.empty()) contenders.push_back([&] { python_round(settings, workload, results); });
  }
  for (int repetition = 0; repetition < settings.repeat; ++repetition) {
    for (size_t i = 0; i < contenders.size(); ++i) {
      contenders[(i + static_cast<size_t>(repetition)) % contenders.size()]();
    }
    progress("  repetition " + std::to_string(repetition + 1) + "/" + std::to_string(settings.repeat) +
             " done; " + memory_state());
  }
  if (full && settings.cold) {
    for (int repetition = 0; repetition < settings.repeat; ++repetition) {
      if (!cairn.cold_restore(results)) {
        progress("  cannot drop the page cache (not root?): cold rows left out");
        break;
      }
      if (drop_caches()) {
        if (auto seconds = fio_read(blob, bytes)) {
          record_seconds(results.row(workload.key, names::kFioColdRead, "page cache", bytes), *seconds);
        }
      }
    }
    for (int repetition = 0; repetition < settings.repeat; ++repetition) cairn.partial_zero_copy(results);
  }
  std::filesystem::remove(blob);
  std::filesystem::remove(copy);
}

std::string bytes_text(double bytes) {
  char text[32];
  if (bytes >= (1 << 30)) std::snprintf(text, sizeof text, "%.2f GiB", bytes / (1 << 30));
  else std::snprintf(text, sizeof text, "%.1f MiB", bytes / (1 << 20));
  return text;
}

void print_table(const Results& results) {
  std::string workload;
  for (const Row& row : results.rows()) {
    if (row.workload != workload) {
      workload = row.workload;
      std::printf("\n(%s)  %-50s %-17s %10s %9s %13s\n", workload.c_str(), "contender", "memory",
                  "median s", "GB/s", "peak growth");
    }
    const std::string growth = row.peak_memory_growth
                                   ? bytes_text(static_cast<double>(*row.peak_memory_growth))
                                   : std::string("-");
    std::printf("     %-50s %-17s %10.4f %9.2f %13s\n", row.contender.c_str(), row.memory.c_str(),
                row.median(), row.gb_per_second(), growth.c_str());
  }
}

void print_targets(const std::vector<Target>& targets) {
  std::printf("\n%-72s %-12s %10s  %s\n", "target", "goal", "measured", "");
  for (const Target& target : targets) {
    char value[32] = "n/a";
    if (target.value) std::snprintf(value, sizeof value, "%.2f %s", *target.value, target.unit.c_str());
    std::printf("%-72s %-12s %10s  %s%s\n", target.name.c_str(), target.goal.c_str(), value,
                !target.value ? "not measured" : target.met ? "met" : "NOT MET",
                target.detail.empty() ? "" : ("  (" + target.detail + ")").c_str());
  }
}

void write_json(const Settings& settings, const Results& results, const std::vector<Target>& targets,
                const std::string& memory_at_start) {
  nlohmann::json rows = nlohmann::json::array();
  for (const Row& row : results.rows()) {
    rows.push_back({{"workload", row.workload}, {"contender", row.contender}, {"memory", row.memory},
                    {"bytes", row.bytes}, {"seconds", row.seconds}, {"median_seconds", row.median()},
                    {"gb_per_second", row.gb_per_second()},
                    {"peak_memory_growth_bytes", row.peak_memory_growth
                                                     ? nlohmann::json(*row.peak_memory_growth)
                                                     : nlohmann::json()}});
  }
  nlohmann::json goals = nlohmann::json::array();
  for (const Target& target : targets) {
    goals.push_back({{"target", target.name}, {"goal", target.goal},
                     {"value", target.value ? nlohmann::json(*target.value) : nlohmann::json()},
                     {"unit", target.unit}, {"met", target.met}, {"detail", target.detail}});
  }
  std::ofstream(settings.json) << nlohmann::json{{"repeat", settings.repeat},
                                                 {"memory_at_start", memory_at_start},
                                                 {"rows", rows},
                                                 {"targets", goals}}
                                      .dump(2)
                               << "\n";
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  bench::Settings settings;
  CLI::App app{"Durable saves and restores of cairn against the raw disk, memcpy, LibTorch and "
               "Python's torch on the same bytes; prints medians and the performance targets."};
  app.add_option("dir", settings.dir, "Folder for the files written (on the disk to measure)")->required();
  app.add_option("--repeat", settings.repeat, "Repetitions of every contender (median)")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--mib", settings.mib, "Size of workload (a) in MiB")->capture_default_str();
  app.add_option("--workloads", settings.workloads,
                 "Workloads: a (N MiB in 100 tensors), b (100 MiB in 10,000), c (GPT-2 small + Adam)")
      ->delimiter(',')->capture_default_str();
  app.add_option("--linear", settings.linear,
                 "Sizes of (a) in MiB for the linear-cost rows (cairn and write(2) only); 0: none")
      ->delimiter(',')->capture_default_str();
  app.add_option("--python", settings.python,
                 "A Python with torch for the torch.save/torch.load rows; empty: left out");
  app.add_option("--json", settings.json, "Also write every figure to this JSON file");
  app.add_flag("!--no-cold", settings.cold, "Skip the cold-cache rows (they drop the page cache: root)");
  CLI11_PARSE(app, argc, argv);

  try {
    std::filesystem::create_directories(settings.dir);
    const std::string memory_at_start = bench::memory_state();
    std::printf("cairn-bench: %d repetitions, medians; files in %s\nmemory at start: %s\n",
                settings.repeat, settings.dir.c_str(), memory_at_start.c_str());
    bench::Results results;
    for (const std::string& key : settings.workloads) {
      if (key == "a") bench::run_workload(settings, bench::large_tensors(settings.mib), true, results);
      else if (key == "b") bench::run_workload(settings, bench::small_tensors(), true, results);
      else if (key == "c") bench::run_workload(settings, bench::model_with_adam(), true, results);
      else throw std::runtime_error("unknown workload '" + key + "' (a, b or c)");
    }
    for (uint64_t mib : settings.linear) {
      if (mib == 0) continue;
      bench::Workload workload = bench::large_tensors(mib);
      workload.key = "a@" + std::to_string(mib) + "MiB";
      bench::run_workload(settings, workload, false, results);
    }
    const std::vector<bench::Target> targets = bench::evaluate_targets(results, 10000);
    std::printf("\nmemory at the end: %s\n", bench::memory_state().c_str());
    bench::print_table(results);
    bench::print_targets(targets);
    if (!settings.json.empty()) bench::write_json(settings, results, targets, memory_at_start);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cairn-bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
