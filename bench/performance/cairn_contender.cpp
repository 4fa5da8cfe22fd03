#include "cairn_contender.hpp"

#include <cstdio>
#include <stdexcept>

#include "cairn/safetensors.hpp"
#include "measure.hpp"
#include "names.hpp"
#include "raw_io.hpp"

namespace bench {

class CairnContender::StateTrainer final : public cairn::Trainer {
 public:
  explicit StateTrainer(const Materialized& state) : state_(state) {}
  cairn::CheckpointState get_checkpoint_state() override { return state_.state(); }

 private:
  const Materialized& state_;
};

namespace {

cairn::CheckpointerOptions bench_options(const std::filesystem::path& dir) {
  cairn::CheckpointerOptions options;
  options.serialization_dir = dir;
  options.num_serialized_models_to_keep = -1;  // retention's deletions are not what is measured
  options.logger = [](cairn::LogLevel level, std::string_view message) {
    if (level == cairn::LogLevel::Warning) std::fprintf(stderr, "cairn: %.*s\n", int(message.size()), message.data());
  };
  return options;
}

void expect_restored(const cairn::CheckpointState& restored, const std::filesystem::path& dir) {
  if (restored.model_state.is_null()) throw std::runtime_error("nothing restored from " + dir.string());
}

}  // namespace

CairnContender::CairnContender(const std::filesystem::path& dir, const std::string& workload_key,
                               const Materialized& state, uint64_t bytes)
    : dir_(dir / ("cairn-" + workload_key)),
      key_(workload_key),
      state_(state),
      bytes_(bytes),
      trainer_(std::make_unique<StateTrainer>(state)) {
  std::filesystem::remove_all(dir_);
}

CairnContender::~CairnContender() {
  async_.reset();
  std::filesystem::remove_all(dir_);
}

void CairnContender::save_open_restore(Results& results) {
  if (!last_dir_.empty()) std::filesystem::remove_all(last_dir_);
  last_dir_ = dir_ / ("sync-" + std::to_string(repetition_++));
  {
    cairn::Checkpointer writer(bench_options(last_dir_));
    record(results.row(key_, names::kSave, "touched", bytes_),
           [&] { writer.save_checkpoint(0, *trainer_); });
  }
  cairn::Checkpointer reader(bench_options(last_dir_));
  record(results.row(key_, names::kOpen, "-", bytes_), [&] {
    if (reader.list_checkpoints().size() != 1) throw std::runtime_error("no checkpoint to open");
  });
  record(results.row(key_, names::kRestoreNew, "mapping", bytes_),
         [&] { expect_restored(reader.restore_checkpoint(), last_dir_); });
  touch_pages(state_.tensors());
  record(results.row(key_, names::kRestoreInPlace, "touched", bytes_),
         [&] { expect_restored(reader.restore_checkpoint_into(state_.state()), last_dir_); });
}

void CairnContender::async_save(Results& results) {
  if (!async_) {
    cairn::CheckpointerOptions options = bench_options(dir_ / "async");
    options.async_save = true;

    async_ = std::make_unique<cairn::Checkpointer>(options);
  }
  Row& blocked = results.row(key_, names::kBlocked, "staging (reused)", bytes_);
  Row& durable = results.row(key_, names::kDurable, "staging (reused)", bytes_);
  // The previous checkpoint goes before the save, as for every other writing row, so that all
  // reuse the page cache it frees (fresh page cache costs up to 3x in this VM: docs/performance.md).
  if (std::filesystem::exists(dir_ / "async" / "checkpoints")) {
    for (const auto& entry : std::filesystem::directory_iterator(dir_ / "async" / "checkpoints")) {
      std::filesystem::remove_all(entry.path());
    }
  }
  touch_pages(state_.tensors());
  double call = 0;
  record(blocked, [&] { call = seconds_of([&] { async_->save_checkpoint(repetition_, *trainer_); }); });
  const double rest = seconds_of([&] { async_->wait(); });
  record_seconds(durable, call + rest);
}

bool CairnContender::cold_restore(Results& results) {
  if (last_dir_.empty() || !drop_caches()) return false;
  cairn::Checkpointer reader(bench_options(last_dir_));
  touch_pages(state_.tensors());
  record(results.row(key_, names::kRestoreCold, "touched", bytes_),
         [&] { expect_restored(reader.restore_checkpoint_into(state_.state()), last_dir_); });
  return true;
}

void CairnContender::partial_zero_copy(Results& results) {
  if (last_dir_.empty()) return;
  const auto latest = cairn::Checkpointer(bench_options(last_dir_)).find_latest_checkpoint();
  if (!latest) throw std::runtime_error("no checkpoint in " + last_dir_.string());
  const cairn::SafetensorsFile file = cairn::SafetensorsFile::open(latest->model);
  uint64_t touched = 0;
  Row& row = results.row(key_, names::kPartial, "mapping", 0);
  record(row, [&] {
    const auto& tensors = file.tensors();
    for (size_t i = 0; i < tensors.size(); i += 10) touched += file.tensor(tensors[i].name).nbytes();
  });
  row.bytes = touched;
}

}  // namespace bench
