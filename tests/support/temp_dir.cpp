#include "support/temp_dir.hpp"

#include <stdlib.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <system_error>

#include "cairn/storage.hpp"

namespace cairn::testing {

TempDir::TempDir(const std::filesystem::path& base) {
  std::string pattern = (base / "cairn-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp");
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::vector<std::string> entry_names(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  if (!std::filesystem::exists(dir)) return names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename() == kOwnerMarker) continue;
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace cairn::testing
