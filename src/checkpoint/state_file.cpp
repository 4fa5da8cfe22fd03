#include "checkpoint/state_file.hpp"

#include "format/safetensors_writer.hpp"

namespace cairn::checkpoint {

ManifestFile write_state_file(std::unique_ptr<WritableFile> out, const std::filesystem::path& path,
                              const State& state, const Metadata& metadata) {
  const format::WrittenFile written = format::write_safetensors_hashed(*out, state, metadata, path);
  out->sync();
  out->close();
  return {path.filename().string(), written.size, written.xxh3};
}

}  // namespace cairn::checkpoint
