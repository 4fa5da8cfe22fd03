// The storage seam: everything cairn does to a filesystem goes through a Storage, so tests can
// inject faults (a failing write, fsync or rename; a full disk) and other backends can plug in.
//
// Contract for implementations: every failure throws IoError naming the operation, the path and
// the reason. Objects returned are used from one thread at a time; a Storage itself must be safe
// to call from several threads, and outlives the objects it returns. tests/
// test_storage_conformance.cpp checks every clause below against every implementation; where an
// implementation may differ, the clause says so ("Variation:").
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cairn {

// A file being written, sequentially. Nothing written is durable until sync() returns.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all bytes of every buffer, in order (vectored where the backend can).
  virtual void append(std::span<const std::span<const std::byte>> buffers) = 0;
  void append(std::span<const std::byte> bytes) { append({&bytes, 1}); }
  // Makes everything appended so far durable (fsync). Variation: a storage that loses nothing
  // (memory) only checks the file is still open.
  virtual void sync() = 0;
  // Closes the file; reports errors the close itself reveals. The destructor closes silently.
  virtual void close() = 0;
};

// A mapping of a whole file, alive as long as this object: read-only, or private and writable
// (copy-on-write) where the storage maps so (copy_on_write_local_storage). Variation: a storage
// without mappings (memory) gives a read-only copy of the bytes.
class MappedRegion {
 public:
  virtual ~MappedRegion() = default;
  virtual std::span<const std::byte> bytes() const noexcept = 0;
  // The same bytes, writable, when the mapping is private and copy-on-write: a write changes
  // this process's copy of the page it lands on, never the file nor what any other mapping or
  // reader of the file sees. Empty for a read-only mapping, where a write would crash the process.
  virtual std::span<std::byte> writable_bytes() const noexcept { return {}; }
};

class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly buffer.size() bytes at `offset`; a short file throws CorruptDataError.
  virtual void read_at(uint64_t offset, std::span<std::byte> buffer) const = 0;
  // Maps the whole file (lazily: pages are read when touched), read-only unless the storage maps
  // copy-on-write (MappedRegion::writable_bytes).
  virtual std::shared_ptr<const MappedRegion> map() const = 0;
};

// A lock taken by Storage::try_lock, held until this object is destroyed (or its holder dies).
class FileLock {
 public:
  virtual ~FileLock() = default;  // releases the lock
  // Whether the path the lock was taken through still names the locked file or folder: a lock
  // belongs to a file, not to its name, so a file deleted or replaced there no longer guards it.
  virtual bool still_at_path() const = 0;
  // Replaces the content of the locked file with `note` (a lock file tells its holder this way).
  virtual void write_note(std::string_view note) = 0;
};

enum class LockMode { kShared, kExclusive };

// What try_lock locks: an existing file or folder, or a lock file (created when missing).
enum class LockTarget { kExisting, kLockFile };

struct LockAttempt {
  std::unique_ptr<FileLock> lock;  // null when busy, or when a kExisting path does not exist
  bool busy = false;               // another holder's lock conflicts with the one asked for
  std::string holder_note;         // when busy: the start of the file's content (its holder's note)
};

struct DirEntry {
  std::string name;
  bool is_directory = false;  // a real folder: a symbolic link, even to a folder, is not
};

// The file cairn puts in each folder it creates to delete inside (staging/, best-versions/):
// Storage::remove_owned deletes nothing in a folder without it.
inline constexpr const char* kOwnerMarker = ".cairn-owned";

class Storage {
 public:
  virtual ~Storage() = default;

  // Creates a new file (it must not exist) with permissions 0666 filtered by the umask.
  // Throws IoError (EEXIST) when anything, even a symbolic link, is at `path`.
  virtual std::unique_ptr<WritableFile> create_file(const std::filesystem::path& path) = 0;
  // A regular file (following symbolic links); IoError (ENOENT) when missing, IoError for a folder.
  virtual std::unique_ptr<ReadableFile> open_file(const std::filesystem::path& path) = 0;
  // Creates a directory and any missing parents; no error if it exists; IoError when a file is in
  // the way.
  virtual void create_directories(const std::filesystem::path& path) = 0;
  // Entries of a directory, in no particular order. Throws IoError (ENOENT) when it is missing.
  virtual std::vector<DirEntry> list(const std::filesystem::path& dir) = 0;
  // Whether anything is at `path`: a symbolic link counts itself, even one that leads nowhere.
  virtual bool exists(const std::filesystem::path& path) = 0;
  // Atomically renames `from` to `to` (same filesystem), replacing a file or an empty folder at
  // `to`. `to` must not be a non-empty directory (IoError, and nothing changes).
  virtual void rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // Makes the directory's entries (creations, renames, removals) durable; IoError (ENOENT) when
  // it is missing. Variation: a storage that loses nothing (memory) only checks the folder.
  virtual void sync_directory(const std::filesystem::path& dir) = 0;
  // The only deletion of the seam, and its guard. Removes `path` (a file, a symbolic link itself,
  // or a directory and everything in it; no error if it does not exist) only when:
  // - its last component is a plain name (not empty, ".", "..", nor holding a '/');
  // - its parent is a real directory (not a symbolic link) that cairn created and marked as its
  //   own with a kOwnerMarker file, or the name is a temporary this process made (".<name>
  //   .cairn-tmp.<our pid>.<n>");
  // and, walking the tree, it never follows a symbolic link nor enters another filesystem.
  // Anything else is refused with IoError naming the path and the reason, before any byte is
  // deleted (a tree that reaches into another filesystem keeps that part). Variation: a storage
  // without mount points (memory) has no other filesystem to stop at.
  virtual void remove_owned(const std::filesystem::path& path) = 0;
  // Makes `link` a new hard link to the file `existing`. Throws IoError (EXDEV, EPERM, ...) where
  // the filesystem refuses, EEXIST when `link` exists; callers fall back to a copy.
  virtual void hard_link(const std::filesystem::path& existing, const std::filesystem::path& link) = 0;
  // Creates a symbolic link `link` whose content is `target`, verbatim (IoError EEXIST when
  // `link` exists).
  virtual void create_symlink(const std::filesystem::path& target,
                              const std::filesystem::path& link) = 0;
  // The content of the symbolic link `link`; IoError (ENOENT) when it does not exist.
  virtual std::filesystem::path read_symlink(const std::filesystem::path& link) = 0;
  // Bytes available to an unprivileged writer on the filesystem holding `path` (IoError ENOENT
  // when it does not exist).
  // Variation: a storage without filesystems (memory) counts what is left of its capacity.
  virtual uint64_t available_bytes(const std::filesystem::path& path) = 0;
  // Locks `path` without waiting (leveldb's Env::LockFile). Shared locks coexist; an exclusive
  // one excludes every other, also one taken through another object of this same process. A
  // conflict is not an error: the attempt comes back busy, with the start (up to 64 bytes) of
  // the file's content as holder_note. A symbolic link at `path` is never followed (IoError).
  // - kExisting: `path` is a regular file or a folder; when it does not exist, the attempt comes
  //   back empty (no lock, not busy).
  // - kLockFile: `path` is a regular file with a single link (so a note is never written
  //   through a link into another file), created empty (0666 filtered by the umask) when
  //   missing; anything else is refused with IoError.
  // A lock is released when its FileLock is destroyed. Variation: the local storages lock with
  // flock(2), which other processes see and the kernel drops when the holder dies; a storage
  // living in one process (memory) is seen by that process only.
  virtual LockAttempt try_lock(const std::filesystem::path& path, LockMode mode,
                               LockTarget target) = 0;
};

// The local POSIX filesystem (the default storage). Shared, thread-safe, lives forever. Files are
// mapped read-only (MAP_SHARED): tensors read through it are read-only views.
Storage& local_storage();

// The same filesystem, but files are mapped private and writable (MAP_PRIVATE, copy-on-write), so
// tensors read through it are writable views (Tensor::writable_data) that no write can carry to
// the file or to anyone else: for callers that hand restored tensors to code that may write into
// them (the Python module: torch has no read-only tensors). Reading costs what it costs through
// local_storage() (the same page-cache pages, no copy); the first write into a page copies that
// page. Mapped with MAP_NORESERVE: memory is claimed page by page as pages are written, not for
// the whole file up front (except under strict overcommit, vm.overcommit_memory=2, where a large
// file may fail to map: IoError ENOMEM). Shared, thread-safe, lives forever.
Storage& copy_on_write_local_storage();

}  // namespace cairn
