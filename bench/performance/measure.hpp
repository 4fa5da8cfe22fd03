// Measuring tools for the performance benchmark: wall-clock timing, medians, this process's
// peak resident memory (reset before each contender), child processes with their own peak
// memory, the page cache, and the machine's memory state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace bench {

double seconds_of(const std::function<void()>& action);
double median(std::vector<double> values);

// Peak resident memory (VmHWM) since the last reset, and the resident memory now, in bytes.
// reset_peak_memory() needs Linux's /proc/self/clear_refs; it returns false where it is absent.
bool reset_peak_memory();
uint64_t peak_memory_bytes();
uint64_t resident_memory_bytes();

// Runs `argv` (no shell), stdout captured; throws naming the command when it fails.
struct ChildRun {
  double seconds = 0;
  uint64_t peak_memory_bytes = 0;  // the child's own peak resident memory
  std::string output;
};
ChildRun run_child(const std::vector<std::string>& argv);
// True when `program` can be found on PATH.
bool on_path(const std::string& program);

// Writes dirty pages back, then drops the page cache (needs root); false when not permitted.
bool drop_caches();
// "MemAvailable 19.1 GiB, MemFree 17.9 GiB, THP madvise": the state figures depend on.
std::string memory_state();

void fsync_path(const std::filesystem::path& path);
// Bytes of every regular file under `path`.
uint64_t bytes_under(const std::filesystem::path& path);

}  // namespace bench
