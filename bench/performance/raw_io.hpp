// The raw contenders: the fastest ways to move the same bytes without a checkpoint format.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "cairn/tensor.hpp"

namespace bench {

// Writes the tensors' bytes back to back into `path` with write(2), then fsyncs it.
void write_and_fsync(const std::vector<cairn::Tensor>& tensors, const std::filesystem::path& path);
// `dd if=source of=destination bs=1M conv=fsync`: seconds.
double dd_write(const std::filesystem::path& source, const std::filesystem::path& destination);
// `dd if=path of=/dev/null bs=1M`: seconds.
double dd_read(const std::filesystem::path& path);
// fio sequential 1 MiB writes of `bytes` with a final fsync: buffered (psync), or O_DIRECT
// through io_uring at queue depth 32. Seconds (wall clock of the fio process); nullopt with a
// note on stderr when fio is missing or refuses (io_uring not permitted, say).
std::optional<double> fio_write(const std::filesystem::path& path, uint64_t bytes, bool direct);
// fio sequential 1 MiB reads of a whole file (psync): seconds.
std::optional<double> fio_read(const std::filesystem::path& path, uint64_t bytes);

// Writes one byte of every 4 KiB page of the tensors' memory (its own value back): the pages are
// resident again, as the memory of a model being trained is, however long they lay idle (this
// VM's host reclaims idle guest memory, and touching it again costs page faults).
void touch_pages(const std::vector<cairn::Tensor>& tensors);
void touch_pages(std::vector<std::byte>& memory);

// One memcpy of every tensor into `destination` (already touched, large enough).
void copy_all(const std::vector<cairn::Tensor>& tensors, std::vector<std::byte>& destination);

}  // namespace bench
