// Makes real serialization directories for the CLI tests:
//   checkpoint_fixture make DIR [SAVES]  SAVES end-of-epoch checkpoints (keep 3; the second is
//                                        best), each with a different model state
//   checkpoint_fixture hold DIR          saves once, prints "ready", and holds the directory's
//                                        lock until its standard input closes
//   checkpoint_fixture policies DIR      20 epochs with val_loss values, keeping the last 2, the
//                                        best 3 by val_loss (min) and every 5th epoch
//   checkpoint_fixture sharded DIR       2 epochs saved by 3 ranks (threads), tensors sharded
#include <cstdio>
#include <string>

#include "support/sharded_states.hpp"
#include "support/thread_ranks.hpp"
#include "support/trainers.hpp"

namespace {

int save_sharded(const cairn::CheckpointerOptions& options) {
  cairn::testing::ThreadRanks ranks(3);
  for (const auto& error : ranks.run([&](int rank) {
         cairn::CheckpointerOptions rank_options = options;
         rank_options.coordinator = &ranks.rank(rank);
         cairn::Checkpointer checkpointer(rank_options);
         cairn::testing::ShardedTrainer trainer;
         trainer.rank = rank;
         trainer.ranks = 3;
         for (trainer.step = 0; trainer.step < 2; ++trainer.step) {
           checkpointer.save_checkpoint(trainer.step, trainer, trainer.step == 0);
         }
       })) {
    if (error) std::rethrow_exception(error);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s make|hold|policies|sharded DIR [SAVES]\n", argv[0]);
    return 2;
  }
  const std::string command = argv[1];
  cairn::CheckpointerOptions options;
  options.serialization_dir = argv[2];
  options.logger = cairn::null_logger();
  options.num_serialized_models_to_keep = 3;
  if (command == "policies") {
    options.num_serialized_models_to_keep = 2;
    options.keep_best_k = 3;
    options.metric = "val_loss";
    options.keep_every_n_epochs = 5;
  }
  if (command == "sharded") return save_sharded(options);
  cairn::Checkpointer checkpointer(options);
  cairn::testing::ToyTrainer trainer;
  if (command == "make") {
    const int saves = argc > 3 ? std::stoi(argv[3]) : 5;
    for (int epoch = 0; epoch < saves; ++epoch) {
      trainer.step = epoch;
      checkpointer.save_checkpoint(epoch, trainer, epoch == 1);
    }
    return 0;
  }
  if (command == "policies") {
    // A validation loss that falls, with noise, then rises again (overfitting).
    const double losses[20] = {0.92, 0.81, 0.74, 0.69, 0.66, 0.61, 0.63, 0.58, 0.55, 0.57,
                               0.52, 0.54, 0.49, 0.51, 0.50, 0.53, 0.55, 0.56, 0.58, 0.61};
    for (int epoch = 0; epoch < 20; ++epoch) {
      trainer.step = epoch;
      checkpointer.save_checkpoint(epoch, trainer, false, {{"val_loss", losses[epoch]}});
    }
    return 0;
  }
  if (command == "hold") {
    checkpointer.save_checkpoint(0, trainer);
    std::printf("ready\n");
    std::fflush(stdout);
    while (std::getchar() != EOF) {
    }
    return 0;
  }
  std::fprintf(stderr, "unknown command %s\n", command.c_str());
  return 2;
}
