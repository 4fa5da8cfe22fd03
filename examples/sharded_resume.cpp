// cairn-example-sharded: a toy model whose weight matrix is split by rows over the ranks of an
// MPI job, checkpointed after every epoch with cairn, and resumed on any number of ranks.
//
//   mpirun -np 4 cairn-example-sharded runs/toy 3     # epochs 0-2 on 4 ranks
//   mpirun -np 3 cairn-example-sharded runs/toy 6     # resumes at epoch 3 on 3 ranks
//
// Each rank restores only its rows (under the new split), "trains" them (an update that does not
// depend on the split, so any sequence of runs ends with the same weights), and saves its rows as
// a shard of the global weight. At the end rank 0 restores the whole matrix in one process and
// prints its checksum: equal for every way of splitting and interrupting the run.
#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cairn/cairn.hpp"
#include "cairn/mpi.hpp"

namespace {

constexpr int64_t kRows = 1000, kColumns = 64;
const cairn::StatePath kWeight = {"model_state", "weight"};

struct RowsTrainer final : cairn::Trainer {
  cairn::Slice rows;
  std::vector<float> values;  // this rank's rows
  int64_t epoch = 0;
  cairn::CheckpointState get_checkpoint_state() override {
    cairn::CheckpointState state{cairn::State::map(), cairn::State::map()};
    state.model_state["weight"] = cairn::Tensor::view(cairn::DType::F32, rows.shape, values.data(),
                                                      values.size() * sizeof(float));
    state.shards[kWeight] = cairn::Shard{{kRows, kColumns}, rows.offsets};
    return state;
  }
};

// A fingerprint of the whole weight's bytes (FNV-1a, 16 hex digits).
std::string fingerprint(const cairn::Tensor& tensor) {
  uint64_t hash = 1469598103934665603ull;
  for (std::byte byte : tensor.data()) hash = (hash ^ static_cast<uint8_t>(byte)) * 1099511628211ull;
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

int run(const std::filesystem::path& dir, int64_t epochs) {
  cairn::MpiCoordinator ranks;
  cairn::CheckpointerOptions options;
  options.serialization_dir = dir;
  options.num_serialized_models_to_keep = 2;
  options.logger = ranks.rank() == 0 ? cairn::stderr_logger() : cairn::null_logger();
  options.coordinator = &ranks;
  cairn::Checkpointer checkpointer(options);

  RowsTrainer trainer;
  trainer.rows = cairn::even_slice({kRows, kColumns}, 0, ranks.rank(), ranks.size());
  trainer.values.resize(static_cast<size_t>(trainer.rows.shape[0] * kColumns));
  const cairn::CheckpointState restored = checkpointer.restore_shards({{kWeight, trainer.rows}});
  int64_t first_epoch = 0;
  if (restored.training_state.is_null()) {
    for (size_t i = 0; i < trainer.values.size(); ++i) {
      const int64_t global = trainer.rows.offsets[0] * kColumns + static_cast<int64_t>(i);
      trainer.values[i] = static_cast<float>(global % 97) * 0.01f;
    }
  } else {
    const cairn::Tensor& mine = restored.model_state.at("weight").as_tensor();
    std::memcpy(trainer.values.data(), mine.data().data(), mine.nbytes());
    first_epoch = restored.training_state.at("epoch").as_int() + 1;
  }
  if (ranks.rank() == 0) {
    std::printf("rank 0 of %d: rows [%lld, %lld), starting at epoch %lld\n", ranks.size(),
                static_cast<long long>(trainer.rows.offsets[0]),
                static_cast<long long>(trainer.rows.offsets[0] + trainer.rows.shape[0]),
                static_cast<long long>(first_epoch));
  }
  for (int64_t epoch = first_epoch; epoch < epochs; ++epoch) {
    for (float& value : trainer.values) value = value * 0.9f + 0.1f * static_cast<float>(epoch);
    checkpointer.save_checkpoint(epoch, trainer);
  }
  if (ranks.rank() == 0) {  // one process, no coordinator: the whole weight
    cairn::CheckpointerOptions reader;
    reader.serialization_dir = dir;
    reader.logger = cairn::null_logger();
    const auto whole = cairn::Checkpointer(reader).restore_checkpoint();
    std::printf("weight after epoch %lld: %s\n",
                static_cast<long long>(whole.training_state.at("epoch").as_int()),
                fingerprint(whole.model_state.at("weight").as_tensor()).c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int code = 2;
  if (argc != 3) {
    std::fprintf(stderr, "usage: mpirun -np N %s DIR EPOCHS\n", argv[0]);
  } else {
    try {
      code = run(argv[1], std::stoll(argv[2]));
    } catch (const std::exception& error) {
      std::fprintf(stderr, "cairn-example-sharded: %s\n", error.what());
      code = 1;
    }
  }
  MPI_Finalize();
  return code;
}
