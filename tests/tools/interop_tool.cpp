// Helper for the Hugging Face interop test (interop/hf_safetensors_interop.py):
//   interop_tool write DIR   writes cairn files and DIR/expected.json describing their tensors
//   interop_tool check DIR   loads every file named in DIR/expected.json with cairn and compares
// expected.json uses the shared test data's format; a file's tensor names are the dotted paths.
#include <cstdio>
#include <fstream>
#include <random>

#include "support/expected_digests.hpp"
#include "support/states.hpp"

namespace {

// The flat name -> tensor view of a cairn file, as any safetensors reader sees it.
cairn::State flat_view(const std::filesystem::path& path) {
  auto file = cairn::SafetensorsFile::open(path);
  cairn::State flat = cairn::State::map();
  for (const cairn::TensorInfo& info : file.tensors()) flat[info.name] = file.tensor(info.name);
  return flat;
}

int write(const std::filesystem::path& dir) {
  std::mt19937 random(11);
  std::vector<std::pair<std::string, cairn::State>> files = {
      {"every_kind.safetensors", cairn::testing::every_kind_state()},
      {"empty.safetensors", cairn::State::map()}};
  for (int i = 0; i < 5; ++i) {
    cairn::State state;
    for (int t = 0; t < 6; ++t) state["r" + std::to_string(t)] = cairn::testing::random_state(random, 3);
    files.emplace_back("random" + std::to_string(i) + ".safetensors", std::move(state));
  }
  nlohmann::ordered_json expected = nlohmann::ordered_json::object();
  for (const auto& [name, state] : files) {
    cairn::save_file(dir / name, state, {{"writer", "cairn"}});
    expected[name] = cairn::testing::describe_tensors(flat_view(dir / name));
  }
  std::ofstream(dir / "expected.json") << expected.dump(1);
  return 0;
}

int check(const std::filesystem::path& dir) {
  nlohmann::json expected = nlohmann::json::parse(std::ifstream(dir / "expected.json"));
  int bad = 0;
  for (const auto& [name, tensors] : expected.items()) {
    for (const std::string& problem :
         cairn::testing::compare_with_expected(cairn::load_file(dir / name), tensors)) {
      std::printf("%s: %s\n", name.c_str(), problem.c_str());
      ++bad;
    }
  }
  std::printf("checked %zu files: %d problems\n", expected.size(), bad);
  return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s write|check DIR\n", argv[0]);
    return 2;
  }
  try {
    std::string command = argv[1];
    if (command == "write") return write(argv[2]);
    if (command == "check") return check(argv[2]);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
  std::fprintf(stderr, "unknown command %s\n", argv[1]);
  return 2;
}
