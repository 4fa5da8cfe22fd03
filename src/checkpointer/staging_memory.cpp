#include "checkpointer/staging_memory.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "cairn/error.hpp"
#include "cairn/text.hpp"
#include "core/parallel.hpp"
#include "core/state_walk.hpp"

namespace cairn::checkpoint {

namespace {

constexpr uint64_t kAlignment = 64;

uint64_t aligned(uint64_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

StagingMemory::~StagingMemory() {
  if (base_ != nullptr) ::munmap(base_, capacity_);
}

uint64_t StagingMemory::staged_size(const State& state) {
  return core::sum_over_tensors(state, [](const Tensor& tensor) { return aligned(tensor.nbytes()); });
}

void StagingMemory::reserve(uint64_t bytes) {
  if (bytes <= capacity_) return;
  if (base_ != nullptr) ::munmap(base_, capacity_);
  base_ = nullptr;
  capacity_ = 0;
  void* region = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) {
    throw IoError("reserve " + format_bytes(bytes) + " of staging memory for an asynchronous save into",
                  owner_, errno);
  }
  // Huge pages fault in about 30 times faster than 4 KiB pages here; only the first save pays.
  ::madvise(region, bytes, MADV_HUGEPAGE);
  base_ = static_cast<std::byte*>(region);
  capacity_ = bytes;
}

uint64_t StagingMemory::staged_size(const CheckpointState& state) {
  return staged_size(state.model_state) + staged_size(state.training_state);
}

CheckpointState StagingMemory::stage(const CheckpointState& state) {
  const uint64_t bytes = staged_size(state);
  reserve(bytes);
  uint64_t offset = 0;
  std::vector<Copy> copies;
  State model = place(state.model_state, offset, copies);
  State training = place(state.training_state, offset, copies);
  // The copy is bound by memory bandwidth: every core takes its share of the tensors.
  core::parallel_for(copies.size(), bytes, [&](size_t i) {
    std::memcpy(copies[i].destination, copies[i].source.data(), copies[i].source.size());
  });
  return {std::move(model), std::move(training), state.shards};
}

State StagingMemory::place(const State& state, uint64_t& offset, std::vector<Copy>& copies) {
  switch (state.kind()) {
    case State::Kind::Tensor: {
      const Tensor& tensor = state.as_tensor();
      std::byte* destination = base_ + offset;
      if (tensor.nbytes() > 0) copies.push_back({tensor.data(), destination});
      offset += aligned(tensor.nbytes());
      return Tensor::view(tensor.dtype(), tensor.shape(), destination, tensor.nbytes());
    }
    case State::Kind::List: {
      State list = State::list();
      for (const State& element : state.elements()) list.push_back(place(element, offset, copies));
      return list;
    }
    case State::Kind::Map: {
      State map = State::map();
      for (const auto& [key, value] : state.items()) map[key] = place(value, offset, copies);
      return map;
    }
    default: return state;
  }
}

}  // namespace cairn::checkpoint
