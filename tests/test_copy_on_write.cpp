// Tensors read through copy_on_write_local_storage() are writable views of a private mapping:
// writing into them changes this process's memory only, never the file, another reader's view
// or a later restore; through local_storage() mapped tensors stay read-only views.
#include <gtest/gtest.h>

#include <functional>

#include "cairn/cairn.hpp"
#include "cairn/inspect.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

using testing::read_bytes;
using testing::TempDir;

// Every tensor of `state`, in tree order.
void for_each_tensor(const State& state, const std::function<void(const Tensor&)>& visit) {
  switch (state.kind()) {
    case State::Kind::Tensor: visit(state.as_tensor()); break;
    case State::Kind::Map:
      for (const auto& [key, value] : state.items()) for_each_tensor(value, visit);
      break;
    case State::Kind::List:
      for (const State& element : state.elements()) for_each_tensor(element, visit);
      break;
    default: break;
  }
}

// Writes into every byte of every tensor (each byte's complement, so each one changes) and
// checks the write landed; returns how many tensors were written.
int write_into_every_tensor(const State& state) {
  int written = 0;
  for_each_tensor(state, [&](const Tensor& tensor) {
    if (tensor.nbytes() == 0) return;
    std::byte* data = tensor.writable_data();
    ASSERT_NE(data, nullptr) << "a restored tensor is not writable";
    const std::vector<std::byte> before(data, data + tensor.nbytes());
    for (size_t i = 0; i < tensor.nbytes(); ++i) data[i] = ~data[i];
    for (size_t i = 0; i < tensor.nbytes(); ++i) ASSERT_EQ(tensor.data()[i], ~before[i]);
    ++written;
  });
  return written;
}

State saved_state() {
  State state = State::map();
  const std::vector<DType> dtypes = {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64,
                                     DType::I32, DType::U8,  DType::BOOL, DType::F8_E4M3};
  for (size_t i = 0; i < dtypes.size(); ++i) {
    state["t" + std::to_string(i)] =
        testing::patterned_tensor(dtypes[i], {7, 3}, static_cast<uint32_t>(i + 1));
  }
  state["nested"]["scalar"] = testing::patterned_tensor(DType::F32, {}, 99);
  state["nested"]["empty"] = testing::patterned_tensor(DType::F32, {0, 4}, 98);
  return state;
}

TEST(CopyOnWriteStorage, WritesIntoMappedTensorsNeverReachTheFileNorAnotherReader) {
  TempDir dir;
  const State saved = saved_state();
  save_file(dir / "f.safetensors", saved);
  const std::vector<std::byte> file_bytes = read_bytes(dir / "f.safetensors");

  const State other_reader = SafetensorsFile::open(dir / "f.safetensors").state();
  auto file = SafetensorsFile::open(dir / "f.safetensors", {}, copy_on_write_local_storage());
  const State restored = file.state();
  ASSERT_EQ(restored, saved);
  EXPECT_EQ(write_into_every_tensor(restored), 10);
  EXPECT_NE(restored, saved);

  EXPECT_EQ(read_bytes(dir / "f.safetensors"), file_bytes);  // while the writes are alive
  EXPECT_EQ(other_reader, saved);
  EXPECT_NO_THROW(SafetensorsFile::open(dir / "f.safetensors").verify());
  EXPECT_TRUE(verify_path(dir / "f.safetensors").ok());
  EXPECT_EQ(SafetensorsFile::open(dir / "f.safetensors", {}, copy_on_write_local_storage()).state(),
            saved);
  EXPECT_EQ(load_file(dir / "f.safetensors"), saved);
}

TEST(CopyOnWriteStorage, ACheckpointerReadingThroughItRestoresWritableTensors) {
  TempDir dir;
  testing::ToyTrainer trainer;
  trainer.step = 3;
  CheckpointState saved;
  std::map<std::string, std::vector<std::byte>> file_bytes;
  {
    Checkpointer writer(testing::quiet_options(dir.path()));
    writer.save_checkpoint(0, trainer);
    saved = writer.restore_checkpoint();
    const auto paths = writer.find_latest_checkpoint();
    ASSERT_TRUE(paths);
    for (const auto& entry : std::filesystem::directory_iterator(paths->dir)) {
      file_bytes[entry.path().filename().string()] = read_bytes(entry.path());
    }
  }
  Checkpointer reader(testing::quiet_options(dir.path(), 2, &copy_on_write_local_storage()));
  const CheckpointState restored = reader.restore_checkpoint();
  ASSERT_EQ(restored.model_state, saved.model_state);
  EXPECT_GT(write_into_every_tensor(restored.model_state), 0);
  EXPECT_GT(write_into_every_tensor(restored.training_state), 0);
  EXPECT_NE(restored.model_state, saved.model_state);

  const auto paths = reader.find_latest_checkpoint();
  ASSERT_TRUE(paths);
  for (const auto& [name, bytes] : file_bytes) {
    EXPECT_EQ(read_bytes(paths->dir / name), bytes) << name;
  }
  EXPECT_TRUE(verify_path(dir.path()).ok());
  const CheckpointState again = reader.restore_checkpoint();
  EXPECT_EQ(again.model_state, saved.model_state);
  EXPECT_EQ(again.training_state, saved.training_state);
  EXPECT_EQ(reader.best_model_state(), State());  // nothing was saved as best
}

TEST(LocalStorage, MappedTensorsStayReadOnlyViews) {
  TempDir dir;
  save_file(dir / "f.safetensors", saved_state());
  const State restored = load_file(dir / "f.safetensors");
  for_each_tensor(restored, [](const Tensor& tensor) {
    EXPECT_EQ(tensor.writable_data(), nullptr);
    EXPECT_TRUE(tensor.owns_data());  // kept alive by the mapping
  });
}

}  // namespace
}  // namespace cairn
