// Faults injected at every storage operation of a save: the save raises a clear IoError, what
// was published before is intact, nothing half-written is visible, and the next save works.
#include <gtest/gtest.h>

#include "cairn/cairn.hpp"
#include "format/header.hpp"
#include "storage/atomic_file.hpp"
#include "storage/staging.hpp"
#include "support/faulty_storage.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"

namespace cairn {
namespace {

using testing::FaultyStorage;
using testing::TempDir;


void save_through(Storage& storage, const std::filesystem::path& path, const State& state) {
  storage::write_file_atomically(storage, path, [&](WritableFile& out) {
    write_safetensors(out, state, {}, path);
  });
}

// Counts the storage operations of one fault-free run of `action`.
template <typename Action>
long count_operations(Action action) {
  FaultyStorage counter;
  action(counter);
  return counter.operations();
}

class FaultAtEveryStep : public ::testing::TestWithParam<int> {};

TEST_P(FaultAtEveryStep, AtomicFileReplacement) {
  const int error_code = GetParam();
  TempDir dir;
  auto path = dir / "state.safetensors";
  State before = testing::every_kind_state();
  save_file(path, before);
  State after;
  after["new"] = testing::patterned_tensor(DType::F32, {128}, 9);

  TempDir scratch;
  long steps = count_operations([&](Storage& s) { save_through(s, scratch / "x", after); });
  ASSERT_GE(steps, 6);  // create, appends, sync, close, rename, directory sync
  for (long step = 0; step < steps; ++step) {
    SCOPED_TRACE("fault at step " + std::to_string(step));
    FaultyStorage faulty;
    faulty.fail_at(step, error_code);
    try {
      save_through(faulty, path, after);
      FAIL() << "the injected fault was swallowed";
    } catch (const IoError& error) {
      EXPECT_EQ(error.error_code(), error_code);
      EXPECT_NE(std::string(error.what()).find(dir.path().string()), std::string::npos);
    }
    // The target holds the old state or, if the fault came after the rename, the new one.
    State now = load_file(path);
    bool renamed = faulty.log()[static_cast<size_t>(step)].starts_with("sync_directory");
    EXPECT_EQ(now, renamed ? after : before);
    EXPECT_EQ(testing::entry_names(dir.path()), std::vector<std::string>{"state.safetensors"});
    if (renamed) save_file(path, before);  // reset for the next step
  }
  save_through(local_storage(), path, after);  // works once the fault is gone
  EXPECT_EQ(load_file(path), after);
}

TEST_P(FaultAtEveryStep, StagedFolderPublish) {
  const int error_code = GetParam();
  TempDir dir;
  local_storage().create_directories(dir / "checkpoints");
  auto publish = [&](Storage& storage, const std::string& name, const State& state) {
    storage::StagingArea staging(storage, dir.path());
    auto folder = staging.begin(name);
    for (const char* file_name : {"model.safetensors", "training_state.safetensors"}) {
      auto file = folder.create_file(file_name);
      write_safetensors(*file, state, {}, folder.path() / file_name);
      file->sync();
      file->close();
    }
    folder.publish(dir / "checkpoints" / name);
  };
  State first = testing::every_kind_state();
  publish(local_storage(), "first", first);
  State second;
  second["w"] = testing::patterned_tensor(DType::BF16, {33}, 3);

  long steps = count_operations([&](Storage& s) {
    publish(s, "probe", second);
  });
  std::filesystem::remove_all(dir / "checkpoints" / "probe");
  for (long step = 0; step < steps; ++step) {
    SCOPED_TRACE("fault at step " + std::to_string(step));
    FaultyStorage faulty;
    faulty.fail_at(step, error_code);
    EXPECT_THROW(publish(faulty, "second", second), IoError);
    // The earlier checkpoint is intact; the new one is whole or absent, never partial.
    EXPECT_EQ(load_file(dir / "checkpoints" / "first" / "model.safetensors"), first);
    auto names = testing::entry_names(dir / "checkpoints");
    if (names.size() == 2) {
      EXPECT_EQ(load_file(dir / "checkpoints" / "second" / "training_state.safetensors"), second);
      std::filesystem::remove_all(dir / "checkpoints" / "second");
    } else {
      EXPECT_EQ(names, std::vector<std::string>{"first"});
    }
    // A failed staging folder is cleaned up, right away or by the next writer.
    storage::StagingArea(local_storage(), dir.path()).remove_leftovers();
    EXPECT_TRUE(testing::entry_names(dir / "staging").empty());
  }
  publish(local_storage(), "second", second);
  EXPECT_EQ(load_file(dir / "checkpoints" / "second" / "model.safetensors"), second);
}

INSTANTIATE_TEST_SUITE_P(Errno, FaultAtEveryStep, ::testing::Values(EIO, ENOSPC, EACCES),
                         [](const auto& param_info) {
                           return param_info.param == EIO ? std::string("EIO")
                                  : param_info.param == ENOSPC ? std::string("ENOSPC")
                                                         : std::string("EACCES");
                         });

TEST(FaultInjection, ReadFaultsAreIoErrorsNotCrashes) {
  TempDir dir;
  auto path = dir / "s.safetensors";
  save_file(path, testing::every_kind_state());
  for (bool copy : {false, true}) {
    long steps = count_operations([&](Storage& s) {
      SafetensorsFile::open(path, {.verify_checksums = true, .copy = copy}, s).state();
    });
    for (long step = 0; step < steps; ++step) {
      FaultyStorage faulty;
      faulty.fail_at(step, EIO);
      EXPECT_THROW(
          SafetensorsFile::open(path, {.verify_checksums = true, .copy = copy}, faulty).state(),
          IoError)
          << "step " << step;
    }
  }
}

TEST(FaultInjection, DiskFullMessageNamesTheCause) {
  TempDir dir;
  FaultyStorage faulty;
  faulty.fail_at(1, ENOSPC);  // the first append
  try {
    save_through(faulty, dir / "full.safetensors", testing::every_kind_state());
    FAIL();
  } catch (const IoError& error) {
    EXPECT_NE(std::string(error.what()).find("No space left on device"), std::string::npos);
  }
  EXPECT_TRUE(testing::entry_names(dir.path()).empty());
}

// Opening a file reads its header only: the bytes read do not grow with the data.
TEST(OpenCost, OpeningReadsOnlyTheHeader) {
  TempDir dir;
  for (int i = 0; i < 2; ++i) {
    State state;
    for (int t = 0; t < 8; ++t) {
      state["t" + std::to_string(t)] =
          testing::patterned_tensor(DType::F32, {i == 0 ? 16 : 1 << 20}, static_cast<uint32_t>(t));
    }
    auto path = dir / ("size" + std::to_string(i) + ".safetensors");
    save_file(path, state);
    FaultyStorage counting;
    auto file = SafetensorsFile::open(path, {}, counting);
    EXPECT_LT(counting.bytes_read(), 4096u);
    EXPECT_EQ(counting.bytes_read(), 8 + format::read_header(*local_storage().open_file(path),
                                                            path).length);
    EXPECT_GT(file.file_size(), counting.bytes_read() * (i == 0 ? 1 : 1000));
  }
}

}  // namespace
}  // namespace cairn
