// Makes real serialization directories for the CLI tests:
//   checkpoint_fixture make DIR [SAVES]  SAVES end-of-epoch checkpoints (keep 3; the second is
//                                        best), each with a different model state
//   checkpoint_fixture hold DIR          saves once, prints "ready", and holds the directory's
//                                        lock until its standard input closes
#include <cstdio>
#include <string>

#include "support/trainers.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s make|hold DIR [SAVES]\n", argv[0]);
    return 2;
  }
  const std::string command = argv[1];
  cairn::CheckpointerOptions options;
  options.serialization_dir = argv[2];
  options.logger = cairn::null_logger();
  options.num_serialized_models_to_keep = 3;
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
