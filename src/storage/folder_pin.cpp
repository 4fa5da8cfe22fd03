#include "storage/folder_pin.hpp"

#include <chrono>
#include <thread>

#include "cairn/error.hpp"

namespace cairn::storage {
namespace {

// A folder that cannot be opened or locked gives no pin (busy: false), as one that is missing.
LockAttempt try_pin(Storage& storage, const std::filesystem::path& folder, LockMode mode) {
  try {
    return storage.try_lock(folder, mode, LockTarget::kExisting);
  } catch (const IoError&) {
    return {};
  }
}

}  // namespace

FolderPin FolderPin::shared(Storage& storage, const std::filesystem::path& folder) {
  constexpr int kAttempts = 1000;  // 1 ms apart
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    LockAttempt pin = try_pin(storage, folder, LockMode::kShared);
    if (!pin.busy) return FolderPin(std::move(pin.lock));  // empty when the folder is gone
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return FolderPin();
}

FolderPin FolderPin::try_exclusive(Storage& storage, const std::filesystem::path& folder,
                                   bool& busy) {
  LockAttempt pin = try_pin(storage, folder, LockMode::kExclusive);
  busy = pin.busy;
  return FolderPin(std::move(pin.lock));
}

}  // namespace cairn::storage
