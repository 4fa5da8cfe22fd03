#include <cairn/cairn.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  cairn::State state;
  state["step"] = 42;
  state["weights"] = cairn::Tensor(cairn::DType::F32, {2}, std::vector<std::byte>(8));
  cairn::save_file(argv[1], state);
  bool same = cairn::load_file(argv[1]) == state;
  std::printf("consumer: round trip %s\n", same ? "ok" : "MISMATCH");
  return same ? 0 : 1;
}
