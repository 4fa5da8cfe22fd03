// Work over many independent items (tensors) spread over the machine's cores, for the passes
// that are bound by memory bandwidth or hashing: checksums, staging copies, restores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace cairn::core {

// Runs work(i) for every i in [0, count), on the calling thread and up to one more thread per
// core (one extra thread per 8 MiB of `total_bytes`, so small jobs start no thread). Items are
// taken in order from a shared counter. The first exception thrown stops the taking of new items
// and is rethrown once every thread has stopped.
void parallel_for(size_t count, uint64_t total_bytes, const std::function<void(size_t)>& work);

}  // namespace cairn::core
