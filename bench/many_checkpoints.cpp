// cairn-bench-many-checkpoints: does a save cost more when many checkpoints are kept?
//
//   cairn-bench-many-checkpoints DIR [--saves 10000] [--window 500] [--policy all|best-k|every-n]
//
// One writer saves a tiny state (a few hundred bytes of tensors) --saves times into DIR, every
// save durable, and keeps every one: num_serialized_models_to_keep = none ("all"); the same with
// keep_best_k = 3 on a metric ("best-k"); or the last 2 and, by keep_every_n_epochs = 1, every
// end-of-epoch save retained ("every-n", which retention decides again at every save). Per window of --window
// saves it prints the median time of one save, the CPU time of one save (this process's, the
// mean over the window: what the disk's noise does not blur) and the size of retention.json;
// at the end the ratios of the last window's figures to the first's (1.0: the count kept costs
// nothing).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cairn/cairn.hpp"

namespace {

namespace fs = std::filesystem;

class TinyTrainer final : public cairn::Trainer {
 public:
  int64_t step = 0;
  cairn::CheckpointState get_checkpoint_state() override {
    std::vector<float> weights(16, static_cast<float>(step));
    std::vector<std::byte> bytes(weights.size() * sizeof(float));
    std::memcpy(bytes.data(), weights.data(), bytes.size());
    cairn::CheckpointState state;
    state.model_state["w"] = cairn::Tensor(cairn::DType::F32, {4, 4}, std::move(bytes));
    state.training_state["step"] = step;
    return state;
  }
};

double cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Median time of one durable save, window by window, while every checkpoint is kept"};
  fs::path dir;
  int saves = 10000;
  int window = 500;
  std::string policy = "all";
  app.add_option("DIR", dir, "Folder to create (must not exist); removed at the end")->required();
  app.add_option("--saves", saves, "Checkpoints to save (all are kept)")->check(CLI::Range(1, 1000000));
  app.add_option("--window", window, "Saves per reported median")->check(CLI::Range(1, 1000000));
  app.add_option("--policy", policy,
                 "all: keep every checkpoint; best-k: also keep_best_k = 3; every-n: the last 2, "
                 "and every one retained by keep_every_n_epochs = 1")
      ->check(CLI::IsMember({"all", "best-k", "every-n"}));
  CLI11_PARSE(app, argc, argv);
  if (fs::exists(dir)) {
    std::fprintf(stderr, "%s exists; give a folder to create\n", dir.c_str());
    return 2;
  }

  cairn::CheckpointerOptions options;
  options.serialization_dir = dir;
  options.num_serialized_models_to_keep = std::nullopt;
  if (policy == "best-k") {
    options.keep_best_k = 3;
    options.metric = "loss";
  }
  if (policy == "every-n") {
    options.num_serialized_models_to_keep = 2;
    options.keep_every_n_epochs = 1;
  }
  options.logger = [](cairn::LogLevel, std::string_view) {};
  TinyTrainer trainer;
  std::vector<double> medians;
  std::vector<double> cpu_means;
  {
    cairn::Checkpointer checkpointer(options);
    std::printf("%10s %16s %16s %16s\n", "kept", "median save ms", "cpu ms per save",
                "ledger bytes");
    std::vector<double> times;
    double cpu_start = cpu_seconds();
    for (int i = 0; i < saves; ++i) {
      trainer.step = i;
      const auto start = std::chrono::steady_clock::now();
      checkpointer.save_checkpoint(i, trainer, false, {{"loss", 1.0 / (1 + (i * 7919) % 1000)}});
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      if (static_cast<int>(times.size()) == window || i + 1 == saves) {
        medians.push_back(median(times) * 1000);
        cpu_means.push_back((cpu_seconds() - cpu_start) * 1000 / static_cast<double>(times.size()));
        std::printf("%10d %16.3f %16.3f %16ju\n", i + 1, medians.back(), cpu_means.back(),
                    static_cast<uintmax_t>(fs::file_size(dir / "retention.json")));
        std::fflush(stdout);
        times.clear();
        cpu_start = cpu_seconds();
      }
    }
  }
  std::printf("last window / first window: %.2fx median save time, %.2fx cpu time\n",
              medians.back() / medians.front(), cpu_means.back() / cpu_means.front());
  fs::remove_all(dir);
  return 0;
}
