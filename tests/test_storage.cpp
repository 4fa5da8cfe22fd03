// The local storage, the staging area's atomic publish, and the directory lock, on a real
// filesystem.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cairn/cairn.hpp"
#include "storage/directory_lock.hpp"
#include "storage/staging.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"

namespace cairn {
namespace {

using storage::DirectoryLock;
using storage::StagingArea;
using testing::TempDir;


// Writes one small safetensors file into a staged folder, as a checkpoint writer does.
void write_staged_file(storage::StagedFolder& folder, const std::string& name, const State& state) {
  auto file = folder.create_file(name);
  write_safetensors(*file, state, {}, folder.path() / name);
  file->sync();
  file->close();
}

TEST(LocalStorage, ListDistinguishesFilesAndDirectories) {
  TempDir dir;
  local_storage().create_directories(dir / "sub" / "deeper");
  testing::write_bytes(dir / "file", {std::byte{1}});
  std::filesystem::create_symlink(dir / "sub", dir / "link");
  auto entries = local_storage().list(dir.path());
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].name, "file");
  EXPECT_FALSE(entries[0].is_directory);
  EXPECT_EQ(entries[1].name, "link");
  EXPECT_FALSE(entries[1].is_directory);  // symlinks are never followed
  EXPECT_TRUE(entries[2].is_directory);
  EXPECT_THROW(local_storage().list(dir / "missing"), IoError);
}

TEST(LocalStorage, CreateRefusesToOverwrite) {
  TempDir dir;
  local_storage().create_file(dir / "f")->close();
  EXPECT_THROW(local_storage().create_file(dir / "f"), IoError);
}

TEST(LocalStorage, ReadPastTheEndIsCorruptData) {
  TempDir dir;
  testing::write_bytes(dir / "f", std::vector<std::byte>(10));
  auto file = local_storage().open_file(dir / "f");
  std::vector<std::byte> buffer(11);
  EXPECT_THROW(file->read_at(0, buffer), CorruptDataError);
  EXPECT_GT(local_storage().available_bytes(dir.path()), 0u);
}

TEST(Staging, PublishMakesTheWholeFolderAppearAtOnce) {
  TempDir dir;
  StagingArea staging(local_storage(), dir.path());
  local_storage().create_directories(dir / "checkpoints");
  auto folder = staging.begin("ckpt-1");
  write_staged_file(folder, "model.safetensors", State(1));
  write_staged_file(folder, "training_state.safetensors", State(2));
  EXPECT_TRUE(testing::entry_names(dir / "checkpoints").empty());  // nothing visible before publish
  folder.publish(dir / "checkpoints" / "ckpt-1");
  EXPECT_EQ(testing::entry_names(dir / "checkpoints" / "ckpt-1"),
            (std::vector<std::string>{"model.safetensors", "training_state.safetensors"}));
  EXPECT_TRUE(testing::entry_names(staging.path()).empty());
  EXPECT_EQ(load_file(dir / "checkpoints" / "ckpt-1" / "training_state.safetensors"), State(2));
  // Published files and folders have normal permissions.
  struct stat info {};
  ASSERT_EQ(::stat((dir / "checkpoints" / "ckpt-1" / "model.safetensors").c_str(), &info), 0);
  mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(info.st_mode & 0777, 0666 & ~mask);
  ASSERT_EQ(::stat((dir / "checkpoints" / "ckpt-1").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0777 & ~mask);
}

TEST(Staging, PublishNeverReplacesAnExistingFolder) {
  TempDir dir;
  StagingArea staging(local_storage(), dir.path());
  local_storage().create_directories(dir / "checkpoints" / "taken");
  auto folder = staging.begin("taken");
  write_staged_file(folder, "model.safetensors", State(1));
  EXPECT_THROW(folder.publish(dir / "checkpoints" / "taken"), InvalidArgumentError);
  EXPECT_TRUE(testing::entry_names(dir / "checkpoints" / "taken").empty());
}

TEST(Staging, AnUnpublishedFolderIsRemovedWhenDropped) {
  TempDir dir;
  StagingArea staging(local_storage(), dir.path());
  {
    auto folder = staging.begin("abandoned");
    write_staged_file(folder, "model.safetensors", State(1));
    EXPECT_EQ(testing::entry_names(staging.path()).size(), 1u);
  }
  EXPECT_TRUE(testing::entry_names(staging.path()).empty());
}

TEST(Staging, LeftoversOfACrashedWriterAreRemovedByTheNextWriter) {
  TempDir dir;
  local_storage().create_directories(dir / "staging" / "ckpt-3.999.0");
  testing::write_bytes(dir / "staging" / "ckpt-3.999.0" / "model.safetensors",
                       std::vector<std::byte>(100));
  testing::write_bytes(dir / "staging" / "stray-file", std::vector<std::byte>(1));
  // The crashed writer had marked staging/ as cairn's, as every writer does.
  testing::write_bytes(dir / "staging" / std::string(kOwnerMarker), {});
  StagingArea staging(local_storage(), dir.path());
  auto removed = staging.remove_leftovers();
  EXPECT_EQ(removed.size(), 2u);
  EXPECT_TRUE(testing::entry_names(staging.path()).empty());
  TempDir empty;
  EXPECT_TRUE(StagingArea(local_storage(), empty / "never-created").remove_leftovers().empty());
}

// Runs `body` in a child process that holds the lock of `dir` until told to exit; returns its
// pid once it holds the lock.
pid_t child_holding_lock(const std::filesystem::path& dir, int& release_pipe) {
  int ready[2], release[2];
  EXPECT_EQ(::pipe(ready), 0);
  EXPECT_EQ(::pipe(release), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    ::close(release[1]);
    DirectoryLock lock(local_storage(), dir);
    char byte = 1;
    (void)!::write(ready[1], &byte, 1);
    (void)!::read(release[0], &byte, 1);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char byte;
  EXPECT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  release_pipe = release[1];
  return pid;
}

TEST(DirectoryLock, SecondWriterGetsLockedByPid) {
  TempDir dir;
  int release;
  pid_t child = child_holding_lock(dir.path(), release);
  try {
    DirectoryLock lock(local_storage(), dir.path());
    FAIL() << "second writer got the lock";
  } catch (const LockedError& error) {
    EXPECT_EQ(error.holder_pid(), child);
    EXPECT_NE(std::string(error.what()).find("locked by pid " + std::to_string(child)),
              std::string::npos)
        << error.what();
  }
  EXPECT_EQ(DirectoryLock::holder(local_storage(), dir.path()), child);
  ::close(release);  // the child exits and its lock goes with it
  int status;
  ::waitpid(child, &status, 0);
  EXPECT_FALSE(DirectoryLock::holder(local_storage(), dir.path()).has_value());
  DirectoryLock lock(local_storage(), dir.path());  // free again
  EXPECT_EQ(DirectoryLock::holder(local_storage(), dir.path()), ::getpid());
}

TEST(DirectoryLock, LockOfAKilledProcessIsTakenOver) {
  TempDir dir;
  int release;
  pid_t child = child_holding_lock(dir.path(), release);
  ::kill(child, SIGKILL);
  int status;
  ::waitpid(child, &status, 0);
  ::close(release);
  EXPECT_NO_THROW(DirectoryLock lock(local_storage(), dir.path()));
}

TEST(DirectoryLock, TwoWritersInOneProcessAlsoConflict) {
  TempDir dir;
  DirectoryLock first(local_storage(), dir.path());
  EXPECT_THROW(DirectoryLock second(local_storage(), dir.path()), LockedError);
}

TEST(DirectoryLock, MissingDirectoryIsAnIoError) {
  TempDir dir;
  EXPECT_THROW(DirectoryLock lock(local_storage(), dir / "missing"), IoError);
  EXPECT_FALSE(DirectoryLock::holder(local_storage(), dir / "missing").has_value());
}

}  // namespace
}  // namespace cairn
