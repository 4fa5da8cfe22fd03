// A Storage over the real filesystem that remembers what a power loss would take away, and can
// take it away (LevelDB's fault_injection_test is the model). Losses at crash():
// - a file's bytes after its last fsync (written data is truncated to the synced size);
// - a directory entry made since that directory's last fsync: a created file, folder, link or
//   symlink is removed; a renamed entry goes back to its old name when the old directory's change
//   was not made durable either, and is lost when it was.
// Removals are taken as durable: cairn never depends on data it deleted.
// crash_at(n) makes operation n (and every later one) throw SimulatedCrash, as a process that
// dies there would stop. Locks (try_lock) pass through untracked and uncounted: a power loss
// drops every lock anyway, and the lock file's content is only a note for error messages.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cairn/storage.hpp"
#include "support/forwarding_storage.hpp"

namespace cairn::testing {

struct SimulatedCrash : std::runtime_error {
  SimulatedCrash() : std::runtime_error("simulated crash") {}
};

class PowerLossStorage final : public ForwardingStorage {
 public:
  void crash_at(long operation) { crash_at_ = operation; }
  long operations() const { return operations_; }
  const std::vector<std::string>& log() const { return log_; }
  // Applies the losses to the real files.
  void crash();

  // For the files it hands out.
  void tick(const std::string& what, const std::filesystem::path& path);
  void wrote(const std::filesystem::path& path, uint64_t bytes) {
    const std::lock_guard<std::recursive_mutex> guard(mutex_);
    files_[path].written += bytes;
  }
  void synced(const std::filesystem::path& path) {
    const std::lock_guard<std::recursive_mutex> guard(mutex_);
    files_[path].synced = files_[path].written;
  }

  std::unique_ptr<WritableFile> create_file(const std::filesystem::path& path) override;
  std::unique_ptr<ReadableFile> open_file(const std::filesystem::path& path) override;
  void create_directories(const std::filesystem::path& path) override;
  std::vector<DirEntry> list(const std::filesystem::path& dir) override;
  bool exists(const std::filesystem::path& path) override;
  void rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  void sync_directory(const std::filesystem::path& dir) override;
  void remove_owned(const std::filesystem::path& path) override;
  void hard_link(const std::filesystem::path& existing, const std::filesystem::path& link) override;
  void create_symlink(const std::filesystem::path& target,
                      const std::filesystem::path& link) override;
  std::filesystem::path read_symlink(const std::filesystem::path& link) override;
  uint64_t available_bytes(const std::filesystem::path& path) override;

 private:
  struct FileState {
    uint64_t written = 0;
    uint64_t synced = 0;
  };
  // A directory change not yet durable: an entry `to` appeared (from `from` if renamed).
  struct EntryChange {
    std::filesystem::path to;
    std::filesystem::path from;  // empty unless renamed
    bool to_durable = false;     // `to`'s directory was fsynced since
    bool from_durable = false;   // `from`'s directory was fsynced since
    // What a rename replaced at `to`, put back when the rename is undone.
    std::optional<std::string> replaced_bytes;
    std::optional<std::filesystem::path> replaced_symlink;
  };
  void record_new_entry(const std::filesystem::path& path);
  // Paths under `from` now live under `to`.
  void moved(const std::filesystem::path& from, const std::filesystem::path& to);

  // A Storage is called from several threads (the files it hands out call back too).
  std::recursive_mutex mutex_;
  long operations_ = 0;
  long crash_at_ = -1;
  bool crashed_ = false;
  std::vector<std::string> log_;
  std::map<std::filesystem::path, FileState> files_;
  std::vector<EntryChange> changes_;
};

}  // namespace cairn::testing
