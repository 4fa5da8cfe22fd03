// libFuzzer target: any byte string handed to the safetensors reader must give a State or a
// cairn::Error, never a crash, a hang, a leak or an allocation sized by an unchecked number.
#include <cstddef>
#include <cstdint>

#include "cairn/cairn.hpp"
#include "support/memory_storage.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The input is one file of an in-memory storage, so each run costs no system calls.
  cairn::testing::MemoryStorage storage;
  {
    auto file = storage.create_file("fuzz-input");
    file->append({reinterpret_cast<const std::byte*>(data), size});
    file->close();
  }
  for (bool verify : {true, false}) {
    try {
      auto file = cairn::SafetensorsFile::open("fuzz-input", {.verify_checksums = verify}, storage);
      cairn::State state = file.state();
      file.verify();
    } catch (const cairn::Error&) {
      // Refusing bad input with a cairn::Error is the expected outcome.
    }
  }
  return 0;
}
