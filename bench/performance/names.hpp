// Row names, shared by the code that records rows and the targets that compare them.
#pragma once

namespace bench::names {

inline constexpr const char* kSave = "cairn save (durable, committed)";
inline constexpr const char* kOpen = "cairn open checkpoint (manifest, headers)";
inline constexpr const char* kRestoreNew = "cairn restore, new memory (mapping), warm";
inline constexpr const char* kRestoreInPlace = "cairn restore in place, warm";
inline constexpr const char* kRestoreCold = "cairn restore in place, cold";
inline constexpr const char* kBlocked = "cairn async save: caller blocked";
inline constexpr const char* kDurable = "cairn async save: until durable";
inline constexpr const char* kPartial = "cairn zero-copy read of 1/10 of the tensors";

inline constexpr const char* kWrite = "write(2) 1M + fsync";
inline constexpr const char* kDd = "dd bs=1M conv=fsync";
inline constexpr const char* kFioBuffered = "fio write, buffered + end_fsync";
inline constexpr const char* kFioDirect = "fio write, O_DIRECT io_uring QD32 + end_fsync";
inline constexpr const char* kDdReadWarm = "dd read, warm (page cache)";
inline constexpr const char* kFioColdRead = "fio read, cold (psync 1M)";
inline constexpr const char* kMemcpy = "memcpy into touched memory";

inline constexpr const char* kTorchCppSave = "torch::save + fsync (LibTorch)";
inline constexpr const char* kTorchCppLoad = "torch::load (LibTorch), warm";
inline constexpr const char* kTorchPySave = "torch.save + fsync (Python)";
inline constexpr const char* kTorchPyLoad = "torch.load (Python), warm";

}  // namespace bench::names
