// Memory an asynchronous save copies the state into, so that training may change its tensors
// while the copy is written. One region, reused from save to save (its pages stay touched, so a
// copy runs at memcpy speed rather than page-fault speed) and grown only when a state is larger
// than any before, never beyond the bound the options set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "cairn/checkpointer.hpp"

namespace cairn::checkpoint {

class StagingMemory {
 public:
  // `owner` (the serialization directory) is named in errors.
  StagingMemory(std::filesystem::path owner, std::optional<uint64_t> limit_bytes)
      : owner_(std::move(owner)), limit_(limit_bytes) {}
  StagingMemory(const StagingMemory&) = delete;
  StagingMemory& operator=(const StagingMemory&) = delete;
  ~StagingMemory();

  // Bytes the tensors of `state` take once staged (each tensor 64-byte aligned).
  static uint64_t staged_size(const CheckpointState& state);
  // False when `bytes` exceeds the bound.
  bool fits(uint64_t bytes) const noexcept { return !limit_ || bytes <= *limit_; }
  // A copy of `state` whose tensors view this memory, which is grown to hold them (`fits` must
  // hold). The result is valid until the next call.
  CheckpointState stage(const CheckpointState& state);
  uint64_t capacity() const noexcept { return capacity_; }

 private:
  static uint64_t staged_size(const State& state);
  void reserve(uint64_t bytes);
  struct Copy {
    std::span<const std::byte> source;
    std::byte* destination;
  };
  // The state with each tensor viewing its place in this memory; the copies still to make.
  State place(const State& state, uint64_t& offset, std::vector<Copy>& copies);

  std::filesystem::path owner_;
  std::optional<uint64_t> limit_;
  std::byte* base_ = nullptr;
  uint64_t capacity_ = 0;
};

}  // namespace cairn::checkpoint
