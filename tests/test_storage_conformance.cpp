// The Storage contract (include/cairn/storage.hpp), one test per clause, run against every
// implementation: each row of kRows below is one storage. A new backend is one more row; where it
// may legitimately differ, storage.hpp says so in a "Variation:" note and the row says which.
#include <gtest/gtest.h>

#include <cerrno>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/error.hpp"
#include "cairn/storage.hpp"
#include "storage/atomic_file.hpp"
#include "support/faulty_storage.hpp"
#include "support/forwarding_storage.hpp"
#include "support/memory_storage.hpp"
#include "support/power_loss_storage.hpp"
#include "support/temp_dir.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::FaultyStorage;
using testing::ForwardingStorage;
using testing::MemoryStorage;
using testing::PowerLossStorage;
using testing::TempDir;

// One implementation under test.
struct Row {
  std::string name;
  // A storage for one test: a fresh one, or a shared one (which must not be deleted).
  std::function<std::shared_ptr<Storage>()> make;
  // Works in a fresh folder of the local disk; otherwise in `root`, inside the storage.
  bool on_disk = true;
  fs::path root = "/conformance";
  // Maps files private and writable (MappedRegion::writable_bytes not empty).
  bool copy_on_write = false;
};

// gtest prints a failing row by its name, not its bytes.
void PrintTo(const Row& row, std::ostream* out) { *out << row.name; }

template <class S>
std::function<std::shared_ptr<Storage>()> fresh() {
  return [] { return std::make_shared<S>(); };
}

std::function<std::shared_ptr<Storage>()> shared(Storage& (*get)()) {
  return [get] { return std::shared_ptr<Storage>(&get(), [](Storage*) {}); };
}

// Fault injectors with no fault armed: "at rest" they must behave as what they wrap.
const Row kRows[] = {
    {.name = "Local", .make = shared(local_storage)},
    {.name = "CopyOnWriteLocal", .make = shared(copy_on_write_local_storage), .copy_on_write = true},
    {.name = "Memory", .make = fresh<MemoryStorage>(), .on_disk = false},
    {.name = "ForwardingOverLocal", .make = fresh<ForwardingStorage>()},
    {.name = "FaultyAtRest", .make = fresh<FaultyStorage>()},
    {.name = "PowerLossAtRest", .make = fresh<PowerLossStorage>()},
};

std::span<const std::byte> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

std::string text_of(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Runs `call`, which must throw IoError naming `path` (and with `error_code`, unless 0).
template <class Call>
void expect_io_error(const Call& call, const fs::path& path, int error_code = 0) {
  try {
    call();
    ADD_FAILURE() << "no IoError for " << path;
  } catch (const IoError& error) {
    EXPECT_NE(std::string(error.what()).find(path.string()), std::string::npos) << error.what();
    if (error_code != 0) {
      EXPECT_EQ(error.error_code(), error_code) << error.what();
    }
  }
}

class StorageConformance : public ::testing::TestWithParam<Row> {
 protected:
  void SetUp() override {
    storage_ = GetParam().make();
    if (GetParam().on_disk) {
      temp_.emplace();
      root_ = temp_->path();
    } else {
      root_ = GetParam().root;
      storage().create_directories(root_);
    }
  }
  void TearDown() override { storage_.reset(); }

  Storage& storage() { return *storage_; }
  fs::path at(const fs::path& relative) const { return root_ / relative; }

  void write(const fs::path& path, std::string_view content) {
    auto file = storage().create_file(path);
    file->append(bytes_of(content));
    file->sync();
    file->close();
  }
  std::string read(const fs::path& path) {
    auto file = storage().open_file(path);
    std::string content(file->size(), '\0');
    file->read_at(0, {reinterpret_cast<std::byte*>(content.data()), content.size()});
    return content;
  }
  std::set<std::string> names(const fs::path& dir) {
    std::set<std::string> found;
    for (const DirEntry& entry : storage().list(dir)) found.insert(entry.name);
    return found;
  }
  // A folder cairn owns (holds the kOwnerMarker file), where remove_owned may delete.
  fs::path owned_folder(const std::string& name) {
    storage().create_directories(at(name));
    write(at(name) / kOwnerMarker, "");
    return at(name);
  }

 private:
  std::shared_ptr<Storage> storage_;
  std::optional<TempDir> temp_;
  fs::path root_;
};

// ---- files ----

TEST_P(StorageConformance, CreateFileRefusesAnExistingFile) {
  write(at("f"), "first");
  expect_io_error([&] { storage().create_file(at("f")); }, at("f"), EEXIST);
  EXPECT_EQ(read(at("f")), "first");
}

TEST_P(StorageConformance, CreateFileInAMissingFolderIsAnIoError) {
  expect_io_error([&] { storage().create_file(at("missing") / "f"); }, at("missing") / "f",
                  ENOENT);
}

TEST_P(StorageConformance, AppendWritesEveryBufferInOrderThenSyncAndClose) {
  auto file = storage().create_file(at("f"));
  const std::string a = "alpha", b, c = "gamma";
  const std::span<const std::byte> buffers[] = {bytes_of(a), bytes_of(b), bytes_of(c)};
  file->append(buffers);
  file->append(bytes_of("!"));
  file->sync();
  file->close();
  EXPECT_EQ(read(at("f")), "alphagamma!");
}

TEST_P(StorageConformance, OpenFileOfAMissingFileIsAnIoErrorNamingIt) {
  expect_io_error([&] { storage().open_file(at("missing")); }, at("missing"), ENOENT);
}

TEST_P(StorageConformance, OpenFileRefusesAFolder) {
  storage().create_directories(at("d"));
  expect_io_error([&] { storage().open_file(at("d")); }, at("d"));
}

TEST_P(StorageConformance, ReadAtReadsExactlyTheBytesAtAnOffset) {
  write(at("f"), "0123456789");
  auto file = storage().open_file(at("f"));
  EXPECT_EQ(file->size(), 10u);
  std::string part(4, '\0');
  file->read_at(3, {reinterpret_cast<std::byte*>(part.data()), part.size()});
  EXPECT_EQ(part, "3456");
  file->read_at(10, {});  // nothing, at the end: not an error
}

TEST_P(StorageConformance, ShortReadIsCorruptDataNamingTheFile) {
  write(at("f"), "0123456789");
  auto file = storage().open_file(at("f"));
  for (uint64_t offset : {uint64_t{8}, uint64_t{10}, uint64_t{1000}}) {
    std::string part(4, '\0');
    try {
      file->read_at(offset, {reinterpret_cast<std::byte*>(part.data()), part.size()});
      ADD_FAILURE() << "a read past the end at " << offset << " succeeded";
    } catch (const CorruptDataError& error) {
      EXPECT_NE(std::string(error.what()).find(at("f").string()), std::string::npos)
          << error.what();
    }
  }
}

TEST_P(StorageConformance, MapGivesTheWholeFile) {
  write(at("f"), "mapped bytes");
  write(at("empty"), "");
  EXPECT_EQ(text_of(storage().open_file(at("f"))->map()->bytes()), "mapped bytes");
  EXPECT_TRUE(storage().open_file(at("empty"))->map()->bytes().empty());
}

// Variation: only a copy-on-write storage gives writable bytes, and a write stays in that mapping.
TEST_P(StorageConformance, WritableBytesOnlyForCopyOnWriteAndNeverReachTheFile) {
  write(at("f"), "original");
  auto file = storage().open_file(at("f"));
  const auto region = file->map();
  const std::span<std::byte> writable = region->writable_bytes();
  if (!GetParam().copy_on_write) {
    EXPECT_TRUE(writable.empty());
    return;
  }
  ASSERT_EQ(writable.size(), 8u);
  writable[0] = std::byte{'X'};
  EXPECT_EQ(text_of(region->bytes()), "Xriginal");
  EXPECT_EQ(read(at("f")), "original");
  EXPECT_EQ(text_of(storage().open_file(at("f"))->map()->bytes()), "original");
}

// ---- folders ----

TEST_P(StorageConformance, CreateDirectoriesMakesParentsAndIsIdempotent) {
  storage().create_directories(at("a/b/c"));
  storage().create_directories(at("a/b/c"));
  storage().create_directories(at("a"));
  EXPECT_EQ(names(at("a/b")), std::set<std::string>{"c"});
}

TEST_P(StorageConformance, CreateDirectoriesThroughAFileIsAnIoError) {
  write(at("f"), "");
  expect_io_error([&] { storage().create_directories(at("f")); }, at("f"));
  expect_io_error([&] { storage().create_directories(at("f/g")); }, at("f/g"));
}

TEST_P(StorageConformance, ListGivesEveryEntryAndWhichAreRealFolders) {
  storage().create_directories(at("d/sub"));
  write(at("d/file"), "x");
  storage().create_symlink("sub", at("d/link-to-sub"));
  std::map<std::string, bool> entries;
  for (const DirEntry& entry : storage().list(at("d"))) entries[entry.name] = entry.is_directory;
  const std::map<std::string, bool> expected = {
      {"sub", true}, {"file", false}, {"link-to-sub", false}};
  EXPECT_EQ(entries, expected);
  EXPECT_TRUE(storage().list(at("d/sub")).empty());
}

TEST_P(StorageConformance, ListOfAMissingFolderIsAnIoErrorEnoent) {
  expect_io_error([&] { storage().list(at("missing")); }, at("missing"), ENOENT);
}

TEST_P(StorageConformance, ExistsSeesFilesFoldersAndLinksThemselves) {
  write(at("f"), "");
  storage().create_directories(at("d"));
  storage().create_symlink("nowhere", at("dangling"));
  EXPECT_TRUE(storage().exists(at("f")));
  EXPECT_TRUE(storage().exists(at("d")));
  EXPECT_TRUE(storage().exists(at("dangling")));
  EXPECT_FALSE(storage().exists(at("missing")));
  EXPECT_FALSE(storage().exists(at("missing/deeper")));
}

// ---- rename ----

TEST_P(StorageConformance, RenameMovesAFileAndReplacesOneAtomically) {
  write(at("a"), "new");
  write(at("b"), "old");
  storage().rename(at("a"), at("b"));
  EXPECT_FALSE(storage().exists(at("a")));
  EXPECT_EQ(read(at("b")), "new");
  storage().rename(at("b"), at("c"));
  EXPECT_EQ(read(at("c")), "new");
}

TEST_P(StorageConformance, RenameMovesAFolderWithItsContentOntoAnEmptyFolder) {
  storage().create_directories(at("from/inner"));
  write(at("from/inner/f"), "content");
  storage().create_directories(at("to"));
  storage().rename(at("from"), at("to"));
  EXPECT_FALSE(storage().exists(at("from")));
  EXPECT_EQ(read(at("to/inner/f")), "content");
}

TEST_P(StorageConformance, RenameRefusesANonEmptyFolderAndChangesNothing) {
  storage().create_directories(at("from"));
  write(at("from/f"), "mine");
  storage().create_directories(at("to"));
  write(at("to/g"), "theirs");
  expect_io_error([&] { storage().rename(at("from"), at("to")); }, at("to"));
  EXPECT_EQ(read(at("from/f")), "mine");
  EXPECT_EQ(read(at("to/g")), "theirs");
}

TEST_P(StorageConformance, RenameOfAMissingEntryIsAnIoError) {
  expect_io_error([&] { storage().rename(at("missing"), at("to")); }, at("to"), ENOENT);
}

TEST_P(StorageConformance, SyncDirectoryOfAFolderAndOfAMissingOne) {
  storage().create_directories(at("d"));
  write(at("d/f"), "x");
  storage().sync_directory(at("d"));
  expect_io_error([&] { storage().sync_directory(at("missing")); }, at("missing"), ENOENT);
}

// ---- remove_owned ----

TEST_P(StorageConformance, RemoveOwnedDeletesFilesAndTreesInAMarkedFolder) {
  const fs::path owned = owned_folder("owned");
  write(owned / "file", "x");
  storage().create_directories(owned / "tree/deeper");
  write(owned / "tree/deeper/f", "y");
  storage().create_symlink("deeper", owned / "tree/link");
  storage().remove_owned(owned / "file");
  storage().remove_owned(owned / "tree");
  storage().remove_owned(owned / "never-there");  // no error
  EXPECT_EQ(names(owned), std::set<std::string>{kOwnerMarker});
}

TEST_P(StorageConformance, RemoveOwnedRefusesAFolderWithoutTheMarker) {
  storage().create_directories(at("theirs"));
  write(at("theirs/file"), "keep");
  expect_io_error([&] { storage().remove_owned(at("theirs/file")); }, at("theirs/file"));
  // A marker must be a file: a folder of that name does not make the parent cairn's.
  storage().create_directories(at("fake"));
  storage().create_directories(at("fake") / kOwnerMarker);
  write(at("fake/file"), "keep");
  expect_io_error([&] { storage().remove_owned(at("fake/file")); }, at("fake/file"));
  EXPECT_EQ(read(at("theirs/file")), "keep");
  EXPECT_EQ(read(at("fake/file")), "keep");
}

TEST_P(StorageConformance, RemoveOwnedRefusesNamesThatAreNotPlain) {
  const fs::path owned = owned_folder("owned");
  storage().create_directories(owned / "sub");
  write(owned / "sub" / kOwnerMarker, "");
  for (const fs::path& path : {owned / "sub" / "..", owned / "sub" / ".", owned / "sub" / ""}) {
    expect_io_error([&] { storage().remove_owned(path); }, path);
  }
  EXPECT_TRUE(storage().exists(owned / "sub"));
}

TEST_P(StorageConformance, RemoveOwnedDeletesOurOwnTemporaryAnywhereButNotAnothersProcess) {
  storage().create_directories(at("theirs"));
  const fs::path temporary = storage::temporary_sibling(at("theirs/file"));
  write(temporary, "half written");
  storage().remove_owned(temporary);
  EXPECT_FALSE(storage().exists(temporary));
  // The same name from another process (pid 1) is not ours to delete.
  const fs::path other = at("theirs/.file.cairn-tmp.1.0");
  write(other, "someone else's");
  expect_io_error([&] { storage().remove_owned(other); }, other);
  EXPECT_TRUE(storage().exists(other));
}

TEST_P(StorageConformance, RemoveOwnedNeverFollowsASymbolicLink) {
  storage().create_directories(at("outside"));
  write(at("outside/precious"), "keep");
  write(at("outside") / kOwnerMarker, "");  // even a marked target is not reached through a link
  const fs::path owned = owned_folder("owned");
  storage().create_symlink(at("outside"), owned / "link");
  storage().create_directories(owned / "tree");
  storage().create_symlink(at("outside"), owned / "tree/link");
  storage().remove_owned(owned / "link");  // the link goes, not what it leads to
  storage().remove_owned(owned / "tree");
  EXPECT_EQ(read(at("outside/precious")), "keep");
  EXPECT_EQ(names(owned), std::set<std::string>{kOwnerMarker});
  // A parent reached through a link is refused, marked or not.
  storage().create_symlink(at("outside"), at("link-to-outside"));
  expect_io_error([&] { storage().remove_owned(at("link-to-outside/precious")); },
                  at("link-to-outside/precious"));
  EXPECT_EQ(read(at("outside/precious")), "keep");
}

// ---- links ----

TEST_P(StorageConformance, HardLinkSharesTheFileAndRefusesAnExistingName) {
  write(at("f"), "shared");
  storage().hard_link(at("f"), at("g"));
  EXPECT_EQ(read(at("g")), "shared");
  write(at("h"), "");
  expect_io_error([&] { storage().hard_link(at("f"), at("h")); }, at("h"), EEXIST);
  expect_io_error([&] { storage().hard_link(at("missing"), at("i")); }, at("i"), ENOENT);
}

TEST_P(StorageConformance, SymlinkKeepsItsTargetVerbatim) {
  storage().create_symlink("../some/where", at("link"));
  EXPECT_EQ(storage().read_symlink(at("link")), fs::path("../some/where"));
  expect_io_error([&] { storage().create_symlink("x", at("link")); }, at("link"), EEXIST);
  expect_io_error([&] { storage().read_symlink(at("missing")); }, at("missing"), ENOENT);
}

TEST_P(StorageConformance, AvailableBytesOfAnExistingFolder) {
  EXPECT_GT(storage().available_bytes(at("")), 0u);
  expect_io_error([&] { storage().available_bytes(at("missing")); }, at("missing"), ENOENT);
}

// ---- locks ----

TEST_P(StorageConformance, SecondExclusiveLockIsBusyAndTellsTheHoldersNote) {
  LockAttempt first = storage().try_lock(at("lock"), LockMode::kExclusive, LockTarget::kLockFile);
  ASSERT_NE(first.lock, nullptr);
  EXPECT_FALSE(first.busy);
  first.lock->write_note("4242\n");
  EXPECT_EQ(read(at("lock")), "4242\n");
  for (LockMode mode : {LockMode::kExclusive, LockMode::kShared}) {
    LockAttempt second = storage().try_lock(at("lock"), mode, LockTarget::kLockFile);
    EXPECT_EQ(second.lock, nullptr);
    EXPECT_TRUE(second.busy);
    EXPECT_EQ(second.holder_note, "4242\n");
  }
}

TEST_P(StorageConformance, SharedLocksCoexistAndKeepAnExclusiveOneOut) {
  storage().create_directories(at("folder"));
  LockAttempt reader = storage().try_lock(at("folder"), LockMode::kShared, LockTarget::kExisting);
  LockAttempt another = storage().try_lock(at("folder"), LockMode::kShared, LockTarget::kExisting);
  ASSERT_NE(reader.lock, nullptr);
  ASSERT_NE(another.lock, nullptr);
  LockAttempt writer = storage().try_lock(at("folder"), LockMode::kExclusive, LockTarget::kExisting);
  EXPECT_TRUE(writer.busy);
  EXPECT_EQ(writer.lock, nullptr);
  EXPECT_TRUE(writer.holder_note.empty());
  reader.lock.reset();
  EXPECT_TRUE(storage().try_lock(at("folder"), LockMode::kExclusive, LockTarget::kExisting).busy);
  another.lock.reset();
  EXPECT_NE(storage().try_lock(at("folder"), LockMode::kExclusive, LockTarget::kExisting).lock,
            nullptr);
}

TEST_P(StorageConformance, LockIsReleasedWhenItsObjectIsDestroyed) {
  {
    LockAttempt held = storage().try_lock(at("lock"), LockMode::kExclusive, LockTarget::kLockFile);
    ASSERT_NE(held.lock, nullptr);
  }
  LockAttempt again = storage().try_lock(at("lock"), LockMode::kExclusive, LockTarget::kLockFile);
  EXPECT_NE(again.lock, nullptr);
  EXPECT_FALSE(again.busy);
}

TEST_P(StorageConformance, LockOfAMissingPathCreatesOnlyALockFile) {
  LockAttempt missing = storage().try_lock(at("none"), LockMode::kShared, LockTarget::kExisting);
  EXPECT_EQ(missing.lock, nullptr);
  EXPECT_FALSE(missing.busy);
  EXPECT_FALSE(storage().exists(at("none")));
  LockAttempt created = storage().try_lock(at("lock"), LockMode::kExclusive, LockTarget::kLockFile);
  EXPECT_NE(created.lock, nullptr);
  EXPECT_EQ(read(at("lock")), "");
  expect_io_error(
      [&] { storage().try_lock(at("missing/lock"), LockMode::kExclusive, LockTarget::kLockFile); },
      at("missing/lock"), ENOENT);
}

TEST_P(StorageConformance, LockNeverFollowsALinkAndALockFileHasOneLink) {
  write(at("target"), "not a lock file");
  storage().create_symlink(at("target"), at("link"));
  for (LockTarget target : {LockTarget::kLockFile, LockTarget::kExisting}) {
    expect_io_error([&] { storage().try_lock(at("link"), LockMode::kExclusive, target); },
                    at("link"));
  }
  storage().hard_link(at("target"), at("second-name"));
  expect_io_error(
      [&] { storage().try_lock(at("target"), LockMode::kExclusive, LockTarget::kLockFile); },
      at("target"));
  storage().create_directories(at("folder"));
  expect_io_error(
      [&] { storage().try_lock(at("folder"), LockMode::kExclusive, LockTarget::kLockFile); },
      at("folder"));
  EXPECT_EQ(read(at("target")), "not a lock file");
}

TEST_P(StorageConformance, LockKnowsWhenItsFileIsReplacedOrDeleted) {
  const fs::path owned = owned_folder("owned");
  LockAttempt held = storage().try_lock(owned / "lock", LockMode::kExclusive, LockTarget::kLockFile);
  ASSERT_NE(held.lock, nullptr);
  EXPECT_TRUE(held.lock->still_at_path());
  write(owned / "replacement", "");
  storage().rename(owned / "replacement", owned / "lock");
  EXPECT_FALSE(held.lock->still_at_path());
  // The new file is another file: it can be locked beside the old lock.
  EXPECT_NE(
      storage().try_lock(owned / "lock", LockMode::kExclusive, LockTarget::kLockFile).lock,
      nullptr);
  LockAttempt next = storage().try_lock(owned / "lock", LockMode::kExclusive, LockTarget::kLockFile);
  ASSERT_NE(next.lock, nullptr);
  storage().remove_owned(owned / "lock");
  EXPECT_FALSE(next.lock->still_at_path());
}

// ---- threads ----

TEST_P(StorageConformance, IsSafeToCallFromSeveralThreads) {
  constexpr int kThreads = 4, kFiles = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kFiles; ++i) {
        const std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
        write(at(name), name);
        EXPECT_EQ(read(at(name)), name);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(storage().list(at("")).size(), size_t{kThreads * kFiles});
}

std::string row_name(const ::testing::TestParamInfo<Row>& row) { return row.param.name; }

INSTANTIATE_TEST_SUITE_P(EveryStorage, StorageConformance, ::testing::ValuesIn(kRows), row_name);

}  // namespace
}  // namespace cairn
