// A fresh directory on the real filesystem for one test, removed afterwards.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace cairn::testing {

class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& child) const { return path_ / child; }

 private:
  std::filesystem::path path_;
};

// Names of the entries of `dir` (sorted); empty when it does not exist.
std::vector<std::string> entry_names(const std::filesystem::path& dir);

}  // namespace cairn::testing
