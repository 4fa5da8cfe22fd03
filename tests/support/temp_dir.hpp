// A fresh directory on the real filesystem for one test, removed afterwards.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace cairn::testing {

class TempDir {
 public:
  TempDir() : TempDir(std::filesystem::temp_directory_path()) {}
  // A fresh directory inside `base` (another filesystem, say).
  explicit TempDir(const std::filesystem::path& base);
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& child) const { return path_ / child; }

 private:
  std::filesystem::path path_;
};

// Names of the entries of `dir` (sorted) but cairn's owner marker; empty when it does not exist.
std::vector<std::string> entry_names(const std::filesystem::path& dir);

}  // namespace cairn::testing
