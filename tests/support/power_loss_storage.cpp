#include "support/power_loss_storage.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;

bool is_under(const fs::path& path, const fs::path& root) {
  auto [root_end, unused] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return root_end == root.end();
}

fs::path rebase(const fs::path& path, const fs::path& from, const fs::path& to) {
  fs::path result = to;
  auto it = path.begin();
  for (auto f = from.begin(); f != from.end(); ++f) ++it;
  for (; it != path.end(); ++it) result /= *it;
  return result;
}

class TrackedFile final : public WritableFile {
 public:
  TrackedFile(PowerLossStorage& owner, fs::path path, std::unique_ptr<WritableFile> inner)
      : owner_(owner), path_(std::move(path)), inner_(std::move(inner)) {}
  void append(std::span<const std::span<const std::byte>> buffers) override {
    for (const auto& buffer : buffers) {
      owner_.tick("append", path_);
      inner_->append(buffer);
      owner_.wrote(path_, buffer.size());
    }
  }
  void sync() override {
    owner_.tick("sync", path_);
    inner_->sync();
    owner_.synced(path_);
  }
  void close() override {
    owner_.tick("close", path_);
    inner_->close();
  }

 private:
  PowerLossStorage& owner_;
  fs::path path_;
  std::unique_ptr<WritableFile> inner_;
};

}  // namespace

void PowerLossStorage::tick(const std::string& what, const fs::path& path) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  if (crashed_) throw SimulatedCrash();
  log_.push_back(what + " " + path.string());
  if (operations_++ == crash_at_) {
    crashed_ = true;
    throw SimulatedCrash();
  }
}

void PowerLossStorage::record_new_entry(const fs::path& path) {
  EntryChange change;
  change.to = path;
  changes_.push_back(std::move(change));
}

void PowerLossStorage::moved(const fs::path& from, const fs::path& to) {
  std::map<fs::path, FileState> files;
  for (auto& [path, state] : files_) {
    files[is_under(path, from) ? rebase(path, from, to) : path] = state;
  }
  files_ = std::move(files);
  // Entries inside a renamed folder move with it. The renamed entry's own record keeps its old
  // name: undoing the rename brings it back there, and undoing its creation removes it there.
  for (EntryChange& change : changes_) {
    if (change.to != from && is_under(change.to, from)) change.to = rebase(change.to, from, to);
  }
}

std::unique_ptr<WritableFile> PowerLossStorage::create_file(const fs::path& path) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  tick("create", path);
  auto inner = ForwardingStorage::create_file(path);
  files_[path] = {};
  record_new_entry(path);
  return std::make_unique<TrackedFile>(*this, path, std::move(inner));
}

std::unique_ptr<ReadableFile> PowerLossStorage::open_file(const fs::path& path) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  tick("open", path);
  return ForwardingStorage::open_file(path);
}

void PowerLossStorage::create_directories(const fs::path& path) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  tick("mkdir", path);
  std::vector<fs::path> created;
  for (fs::path p = path; !p.empty() && !fs::exists(p); p = p.parent_path()) created.push_back(p);
  ForwardingStorage::create_directories(path);
  for (auto it = created.rbegin(); it != created.rend(); ++it) record_new_entry(*it);
}

std::vector<DirEntry> PowerLossStorage::list(const fs::path& dir) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  tick("list", dir);
  return ForwardingStorage::list(dir);
}

bool PowerLossStorage::exists(const fs::path& path) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  if (crashed_) throw SimulatedCrash();
  return ForwardingStorage::exists(path);
}

void PowerLossStorage::rename(const fs::path& from, const fs::path& to) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  tick("rename", to);
  EntryChange change;
  change.to = to;
  change.from = from;
  if (fs::is_symlink(to)) {
    change.replaced_symlink = fs::read_symlink(to);
  } else if (fs::is_regular_file(to)) {
    std::ifstream in(to, std::ios::binary);
    change.replaced_bytes = std::string(std::istreambuf_iterator<char>(in), {});
  }
  ForwardingStorage::rename(from, to);
  moved(from, to);
  changes_.push_back(std::move(change));
}

void PowerLossStorage::sync_directory(const fs::path& dir) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  tick("sync_directory", dir);
  ForwardingStorage::sync_directory(dir);
  for (EntryChange& change : changes_) {
    if (change.to.parent_path() == dir) change.to_durable = true;
    if (!change.from.empty() && change.from.parent_path() == dir) change.from_durable = true;
  }
}

void PowerLossStorage::remove_owned(const fs::path& path) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  tick("remove", path);
  ForwardingStorage::remove_owned(path);
  std::erase_if(files_, [&](const auto& item) { return is_under(item.first, path); });
  std::erase_if(changes_, [&](const EntryChange& change) { return is_under(change.to, path); });
}

void PowerLossStorage::hard_link(const fs::path& existing, const fs::path& link) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  tick("link", link);
  ForwardingStorage::hard_link(existing, link);
  record_new_entry(link);
}

void PowerLossStorage::create_symlink(const fs::path& target, const fs::path& link) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  tick("symlink", link);
  ForwardingStorage::create_symlink(target, link);
  record_new_entry(link);
}

fs::path PowerLossStorage::read_symlink(const fs::path& link) {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  tick("readlink", link);
  return ForwardingStorage::read_symlink(link);
}

uint64_t PowerLossStorage::available_bytes(const fs::path& path) {
  return ForwardingStorage::available_bytes(path);
}

void PowerLossStorage::crash() {
  const std::lock_guard<std::recursive_mutex> guard(mutex_);
  // 1. File bytes after the last fsync are gone.
  for (const auto& [path, state] : files_) {
    std::error_code error;
    if (state.written != state.synced && fs::is_regular_file(path, error)) {
      fs::resize_file(path, state.synced, error);
    }
  }
  // 2. Directory changes not made durable are undone, newest first.
  for (auto it = changes_.rbegin(); it != changes_.rend(); ++it) {
    if (it->to_durable) continue;
    std::error_code error;
    if (!it->from.empty() && !it->from_durable && !fs::exists(fs::symlink_status(it->from, error))) {
      fs::rename(it->to, it->from, error);  // the rename never happened
    } else {
      fs::remove_all(it->to, error);  // the entry never appeared (or was lost in a move)
    }
    if (it->replaced_symlink) {
      fs::create_symlink(*it->replaced_symlink, it->to, error);
    } else if (it->replaced_bytes) {
      std::ofstream(it->to, std::ios::binary) << *it->replaced_bytes;
    }
  }
  files_.clear();
  changes_.clear();
}

}  // namespace cairn::testing
