// cairn-bench-save-load: durable save and verified load of one State, side by side with dd
// on the same bytes, in one run, contenders interleaved; prints medians and ratios.
//
//   cairn-bench-save-load DIR [--mib 1024] [--tensors 100] [--repeat 5]
//
// Per repetition, in this order:
//   cairn save   save_file (write, fsync, rename, directory fsync)
//   dd write     dd if=<cairn's file> of=<copy> bs=1M conv=fsync (reads from the page cache)
//   cairn load   load_file, zero-copy, every tensor's XXH3 verified (touches every byte)
//   cairn copy   load_file with copy=true (reads into owned memory), verified
//   dd read      dd if=<cairn's file> of=/dev/null bs=1M (page cache warm)
// The State's memory is touched before the first repetition; caches are warm for reads.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cairn/cairn.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double time_seconds(const auto& action) {
  auto start = Clock::now();
  action();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

void run_or_die(const std::string& command) {
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "command failed: %s\n", command.c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::fprintf(stderr, "usage: %s DIR [--mib N] [--tensors N] [--repeat N]\n", argv[0]);
    return 2;
  }
  std::filesystem::path dir = argv[1];
  long mib = 1024, tensors = 100, repeat = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    long value = std::atol(argv[i + 1]);
    if (flag == "--mib") mib = value;
    else if (flag == "--tensors") tensors = value;
    else if (flag == "--repeat") repeat = value;
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  std::filesystem::create_directories(dir);
  const auto file = dir / "bench.safetensors";
  const auto copy = dir / "dd-copy.bin";

  // Float32 tensors of equal size; memory filled (so touched) from a seeded generator.
  const size_t bytes_per_tensor = static_cast<size_t>(mib) * 1024 * 1024 / tensors / 4 * 4;
  cairn::State state;
  std::mt19937 random(1);
  for (long t = 0; t < tensors; ++t) {
    std::vector<std::byte> bytes(bytes_per_tensor);
    auto value = static_cast<uint32_t>(random());
    for (size_t i = 0; i < bytes.size(); i += 4) std::memcpy(&bytes[i], &(value += 2654435761u), 4);
    state["layer" + std::to_string(t)]["weight"] = cairn::Tensor(
        cairn::DType::F32, {static_cast<int64_t>(bytes_per_tensor / 4)}, std::move(bytes));
  }
  const double gib =
      static_cast<double>(bytes_per_tensor) * static_cast<double>(tensors) / (1 << 30);
  std::printf("state: %.3f GiB in %ld F32 tensors; %ld repetitions; dir %s\n", gib, tensors,
              repeat, dir.c_str());

  std::vector<double> save, dd_write, load, load_copy, dd_read;
  for (long r = 0; r < repeat; ++r) {
    std::filesystem::remove(file);
    save.push_back(time_seconds([&] { cairn::save_file(file, state); }));
    std::filesystem::remove(copy);
    dd_write.push_back(time_seconds([&] {
      run_or_die("dd if=" + file.string() + " of=" + copy.string() +
                 " bs=1M conv=fsync status=none");
    }));
    load.push_back(time_seconds([&] {
      cairn::State loaded = cairn::load_file(file);
      if (loaded.size() != static_cast<size_t>(tensors)) std::exit(1);
    }));
    load_copy.push_back(time_seconds([&] {
      cairn::State loaded = cairn::load_file(file, {.verify_checksums = true, .copy = true});
      if (loaded.size() != static_cast<size_t>(tensors)) std::exit(1);
    }));
    dd_read.push_back(time_seconds(
        [&] { run_or_die("dd if=" + file.string() + " of=/dev/null bs=1M status=none"); }));
    std::printf("  rep %ld: save %.3f s, dd write %.3f s, load %.3f s, load+copy %.3f s, "
                "dd read %.3f s\n",
                r + 1, save.back(), dd_write.back(), load.back(), load_copy.back(),
                dd_read.back());
  }
  std::filesystem::remove(copy);
  std::filesystem::remove(file);

  auto row = [&](const char* name, const std::vector<double>& times, double reference) {
    double seconds = median(times);
    std::printf("%-34s %8.3f s %8.2f GB/s %8.2fx\n", name, seconds,
                gib * (1 << 30) / seconds / 1e9, reference / seconds);
  };
  std::printf("\nmedians                               time   throughput  vs dd\n");
  row("dd bs=1M conv=fsync (write)", dd_write, median(dd_write));
  row("cairn save_file (durable)", save, median(dd_write));
  row("dd bs=1M (read, page cache)", dd_read, median(dd_read));
  row("cairn load_file (zero-copy, XXH3)", load, median(dd_read));
  row("cairn load_file (copy, XXH3)", load_copy, median(dd_read));
  return 0;
}
