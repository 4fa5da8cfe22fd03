// cairn-bench-save-spec: the C++ save of the same bytes as the Python benchmark
// (bench/python_performance.py), measured in the same run. It builds the tensors a spec names
// once (float32, every page written), then on each "save DIR" line of stdin saves them with a
// fresh Checkpointer into DIR (a new directory, as the Python row does) and prints the seconds
// of save_checkpoint alone. A server rather than a program per save, so the state is built once
// and the rows interleave with the Python ones like any other contender. It answers each save
// with "SECONDS BYTES" (BYTES: of every file under DIR).
//
//     cairn-bench-save-spec SPEC.json     SPEC: {"tensors": [[name, [shape...], training], ...]}
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cairn/checkpointer.hpp"
#include "performance/measure.hpp"
#include "performance/raw_io.hpp"
#include "performance/workloads.hpp"

namespace {

class StateTrainer final : public cairn::Trainer {
 public:
  explicit StateTrainer(const bench::Materialized& state) : state_(state) {}
  cairn::CheckpointState get_checkpoint_state() override { return state_.state(); }

 private:
  const bench::Materialized& state_;
};

bench::Workload read_spec(const char* path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error(std::string("cannot read ") + path);
  bench::Workload workload{"spec", path, {}};
  const nlohmann::json spec = nlohmann::json::parse(file);  // alive through the loop
  for (const auto& tensor : spec.at("tensors")) {
    workload.tensors.push_back({tensor.at(0).get<std::string>(), tensor.at(2).get<bool>(),
                                tensor.at(1).get<std::vector<int64_t>>()});
  }
  if (workload.tensors.empty()) throw std::runtime_error(std::string("no tensors in ") + path);
  return workload;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SPEC.json  (then \"save DIR\" lines on stdin)\n", argv[0]);
    return 2;
  }
  try {
    const bench::Materialized state(read_spec(argv[1]));
    StateTrainer trainer(state);
    std::printf("ready\n");
    std::fflush(stdout);
    for (std::string line; std::getline(std::cin, line);) {
      if (line.rfind("save ", 0) != 0) throw std::runtime_error("unknown command: " + line);
      cairn::CheckpointerOptions options;
      options.serialization_dir = line.substr(5);
      options.num_serialized_models_to_keep = -1;  // as cairn-bench: retention is not measured
      options.logger = [](cairn::LogLevel level, std::string_view message) {  // warnings only
        if (level == cairn::LogLevel::Warning) {
          std::fprintf(stderr, "cairn: %.*s\n", static_cast<int>(message.size()), message.data());
        }
      };
      cairn::Checkpointer checkpointer(options);
      bench::touch_pages(state.tensors());  // idle memory is slow to touch again on this VM
      const double seconds = bench::seconds_of([&] { checkpointer.save_checkpoint(0, trainer); });
      // The bytes written let the caller check that the state really was saved.
      std::printf("%.9f %llu\n", seconds,
                  static_cast<unsigned long long>(bench::bytes_under(options.serialization_dir)));
      std::fflush(stdout);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cairn-bench-save-spec: %s\n", error.what());
    return 1;
  }
  return 0;
}
