// cairn-demo: trains a small MLP with Adam on synthetic data, checkpointing with cairn. Run it
// again on the same --dir after a crash (or kill -9) and it resumes from the newest valid
// checkpoint, in the middle of an epoch if that is where it stopped, and finishes with exactly
// the weights an uninterrupted run produces.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <ctime>

#include "cairn/cairn.hpp"
#include "cairn/torch.hpp"
#include "demo_model.hpp"

namespace {

struct Settings {
  std::filesystem::path dir;
  int64_t epochs = 4;
  uint64_t seed = 42;
  double save_interval = 0;  // 0: no timed saves inside an epoch
  int keep = 2;
  int keep_best = 2;
  std::filesystem::path final_path;
  int64_t samples = 16384;
  int64_t batch_size = 64;
  bool list = false;
  bool quiet = false;
};

constexpr int64_t kFeatures = 128;
constexpr int64_t kHidden = 192;
constexpr int64_t kClasses = 8;

void say(const Settings& settings, const char* format, auto... args) {
  if (settings.quiet) return;
  std::printf(format, args...);
  std::fflush(stdout);
}

int list_checkpoints(const Settings& settings) {
  cairn::CheckpointerOptions options;
  options.serialization_dir = settings.dir;
  cairn::Checkpointer checkpointer(options);
  auto infos = checkpointer.list_checkpoints();
  std::map<std::string, std::string> why;  // the writer's retention policies, explained
  for (const auto& decision : cairn::explain_directory(settings.dir)) why[decision.name] = decision.reason;
  std::printf("%zu checkpoint(s) in %s:\n", infos.size(), (settings.dir / "checkpoints").c_str());
  for (const auto& info : infos) {
    std::time_t when = static_cast<std::time_t>(info.save_time);
    char time_text[32];
    std::strftime(time_text, sizeof(time_text), "%H:%M:%S", std::localtime(&when));
    std::string where = info.batches_this_epoch
                            ? "epoch " + std::to_string(info.epoch) + ", after batch " +
                                  std::to_string(*info.batches_this_epoch)
                            : "end of epoch " + std::to_string(info.epoch);
    std::printf("  %-32s %-28s %s %7.2f MiB%s  %s\n", info.name.c_str(), where.c_str(), time_text,
                static_cast<double>(info.size_bytes) / (1 << 20), info.is_best ? "  best" : "",
                why[info.name].c_str());
  }
  return 0;
}

int train(const Settings& settings) {
  torch::set_num_threads(1);  // one thread: the same arithmetic in every run
  const demo::Dataset data =
      demo::make_dataset(settings.seed, settings.samples, kFeatures, kClasses);
  torch::manual_seed(settings.seed);
  demo::Mlp model(kFeatures, kHidden, kClasses);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));

  cairn::CheckpointerOptions options;
  options.serialization_dir = settings.dir;
  options.num_serialized_models_to_keep = settings.keep;
  if (settings.keep_best > 0) {  // besides the last ones, the most accurate ones
    options.keep_best_k = settings.keep_best;
    options.metric = "accuracy";
    options.mode = cairn::MetricMode::Max;
  }
  if (settings.save_interval > 0) options.model_save_interval = settings.save_interval;
  options.logger = settings.quiet ? cairn::null_logger()
                                  : cairn::Logger([](cairn::LogLevel level, std::string_view line) {
                                      std::printf("    cairn: %s%.*s\n",
                                                  level == cairn::LogLevel::Warning ? "warning: " : "",
                                                  static_cast<int>(line.size()), line.data());
                                      std::fflush(stdout);
                                    });
  cairn::Checkpointer checkpointer(options);
  cairn::TorchTrainer trainer(*model, optimizer);

  const int64_t batches = settings.samples / settings.batch_size;
  // The checkpointer's log names the checkpoint it restored.
  const cairn::TorchTrainer::ResumePoint start = trainer.restore(checkpointer.restore_checkpoint());
  if (start.resumed) {
    say(settings, "Resuming at epoch %lld, after batch %lld of %lld\n",
        static_cast<long long>(start.epoch), static_cast<long long>(start.batches_done),
        static_cast<long long>(batches));
  } else {
    say(settings, "No checkpoint in %s: training from scratch\n", settings.dir.c_str());
    trainer.extra["loss_sum"] = 0.0;
    trainer.extra["best_accuracy"] = 0.0;
  }

  for (int64_t epoch = start.epoch; epoch < settings.epochs; ++epoch) {
    const auto started = std::chrono::steady_clock::now();
    const std::vector<int64_t> order = demo::epoch_order(settings.seed, epoch, settings.samples);
    const int64_t first = epoch == start.epoch ? start.batches_done : 0;
    model->train();
    for (int64_t batch = first; batch < batches; ++batch) {
      torch::Tensor index = torch::from_blob(
          const_cast<int64_t*>(order.data() + batch * settings.batch_size),
          {settings.batch_size}, torch::kLong);
      optimizer.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(
          model->forward(data.inputs.index_select(0, index)), data.labels.index_select(0, index));
      loss.backward();
      optimizer.step();
      trainer.extra["loss_sum"] = trainer.extra.at("loss_sum").as_double() + loss.item<double>();
      checkpointer.maybe_save_checkpoint(trainer, epoch, batch + 1);
    }
    torch::Tensor accuracy;
    {
      torch::NoGradGuard no_grad;
      model->eval();
      accuracy = (model->forward(data.inputs).argmax(1) == data.labels).to(torch::kDouble).mean();
    }
    const double acc = accuracy.item<double>();
    const bool best = acc > trainer.extra.at("best_accuracy").as_double();
    if (best) trainer.extra["best_accuracy"] = acc;
    const double mean_loss = trainer.extra.at("loss_sum").as_double() / static_cast<double>(batches);
    trainer.extra["loss_sum"] = 0.0;  // the next epoch starts counting afresh
    say(settings, "epoch %lld: mean loss %.4f, accuracy %.2f%%%s (%.1f s)\n",
        static_cast<long long>(epoch), mean_loss, acc * 100, best ? ", best so far" : "",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    checkpointer.save_checkpoint(epoch, trainer, best, {{"accuracy", acc}, {"mean_loss", mean_loss}});
  }

  if (!settings.final_path.empty()) {
    cairn::save_file(settings.final_path, cairn::module_state(*model));
    say(settings, "Final model written to %s\n", settings.final_path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  CLI::App app{
      "Trains a small MLP with Adam, checkpointing with cairn. Run it again on the same --dir "
      "after a crash or kill -9 and it resumes from the newest valid checkpoint, mid-epoch if "
      "need be, and ends with the same weights as a run that never stopped.\n\n"
      "Example:\n  cairn-demo --dir runs/demo --epochs 4 --save-interval 1 --final runs/final.safetensors",
      "cairn-demo"};
  app.add_option("--dir", settings.dir, "Serialization directory (checkpoints go here)")->required();
  app.add_option("--epochs", settings.epochs, "Epochs to train in all")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", settings.seed, "Seed for data, initial weights and shuffling")
      ->capture_default_str();
  app.add_option("--save-interval", settings.save_interval,
                 "Also save every SEC seconds inside an epoch (0: only at epoch ends)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--keep", settings.keep, "Checkpoints to keep (negative: all)")->capture_default_str();
  app.add_option("--keep-best", settings.keep_best,
                 "Also keep this many end-of-epoch checkpoints with the best accuracy (0: off)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--final", settings.final_path,
                 "Write the trained model state to this safetensors file when done");
  app.add_option("--samples", settings.samples, "Training samples")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--batch-size", settings.batch_size, "Samples per batch")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--list", settings.list, "List the checkpoints in --dir and exit");
  app.add_flag("--quiet", settings.quiet, "Print nothing but errors");
  CLI11_PARSE(app, argc, argv);
  try {
    return settings.list ? list_checkpoints(settings) : train(settings);
  } catch (const cairn::Error& error) {
    std::fprintf(stderr, "cairn-demo: %s\n", error.what());
    return 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cairn-demo: %s\n", error.what());
    return 1;
  }
}
