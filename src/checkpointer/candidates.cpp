#include "checkpointer/candidates.hpp"

#include <algorithm>
#include <cerrno>

#include "cairn/error.hpp"

namespace cairn::checkpointer {

std::vector<Candidate> scan_checkpoints(Storage& storage,
                                        const std::filesystem::path& checkpoints_dir) {
  std::vector<Candidate> found;
  std::vector<DirEntry> entries;
  try {
    entries = storage.list(checkpoints_dir);
  } catch (const IoError& error) {
    if (error.error_code() == ENOENT) return found;
    throw;
  }
  for (const DirEntry& entry : entries) {
    if (!entry.is_directory) continue;
    if (auto name = checkpoint::parse_checkpoint_name(entry.name)) {
      found.push_back({*name, entry.name});
    }
  }
  std::sort(found.begin(), found.end(),
            [](const Candidate& a, const Candidate& b) { return a.name.seq > b.name.seq; });
  return found;
}

}  // namespace cairn::checkpointer
