// Sharded checkpoints with ranks on threads (tests/mpi runs the same under Open MPI): a save by
// n ranks restores on any number of ranks and on one process; a rank that fails leaves nothing
// visible and every rank told; retention, best and fallback are decided once.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "cairn/cairn.hpp"
#include "support/faulty_storage.hpp"
#include "support/sharded_states.hpp"
#include "support/states.hpp"
#include "support/temp_dir.hpp"
#include "support/thread_ranks.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::ThreadRanks;

void rethrow_any(const std::vector<std::exception_ptr>& errors) {
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

// Saves steps `first`..`last` (end of epoch = step) with `ranks` thread ranks.
void save_steps(const fs::path& dir, int ranks, int64_t first, int64_t last, int keep = 2) {
  ThreadRanks group(ranks);
  rethrow_any(group.run([&](int rank) {
    Checkpointer checkpointer(testing::rank_options(dir, group.rank(rank), keep));
    testing::ShardedTrainer trainer;
    trainer.rank = rank;
    trainer.ranks = ranks;
    for (trainer.step = first; trainer.step <= last; ++trainer.step) {
      checkpointer.save_checkpoint(trainer.step, trainer, trainer.step % 2 == 0);
    }
  }));
}

TEST(Sharded, SavedByFourRestoresOnOneTwoThreeAndFour) {
  TempDir dir;
  save_steps(dir.path(), 4, 0, 1);
  // One process without a coordinator gets the whole tensors.
  Checkpointer single(testing::quiet_options(dir.path()));
  const CheckpointState whole = single.restore_checkpoint();
  const CheckpointState expected = testing::full_state(1);
  EXPECT_EQ(whole.model_state, expected.model_state);
  for (const auto& [path, shard] : whole.shards) EXPECT_EQ(shard.offsets, std::vector<int64_t>(shard.global_shape.size(), 0));
  EXPECT_EQ(whole.training_state.at("optimizer"), expected.training_state.at("optimizer"));
  for (int ranks = 1; ranks <= 4; ++ranks) {
    ThreadRanks group(ranks);
    rethrow_any(group.run([&](int rank) {
      Checkpointer checkpointer(testing::rank_options(dir.path(), group.rank(rank)));
      testing::expect_restored(checkpointer.restore_shards(testing::restore_request(rank, ranks)), 1, rank,
                      ranks);
    }));
  }
  // The best model (step 0, marked best) has its sharded model tensors whole, and no training
  // state.
  const State best = single.best_model_state();
  EXPECT_EQ(best, testing::full_state(0).model_state);
}

// Asynchronous saves with several ranks: each rank's background save takes part in the
// collective protocol; one commit for all, retention as for synchronous saves.
TEST(Sharded, AsynchronousSavesOnThreeRanksCommitOnceAndRestoreOnTwo) {
  TempDir dir;
  ThreadRanks group(3);
  rethrow_any(group.run([&](int rank) {
    CheckpointerOptions options = testing::rank_options(dir.path(), group.rank(rank), 2);
    options.async_save = true;
    Checkpointer checkpointer(options);
    testing::ShardedTrainer trainer;
    trainer.rank = rank;
    trainer.ranks = 3;
    for (trainer.step = 0; trainer.step <= 3; ++trainer.step) {
      checkpointer.save_checkpoint(trainer.step, trainer);
    }
    checkpointer.wait();
  }));
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{2, 3}));
  ThreadRanks readers(2);
  rethrow_any(readers.run([&](int rank) {
    Checkpointer checkpointer(testing::rank_options(dir.path(), readers.rank(rank)));
    testing::expect_restored(checkpointer.restore_shards(testing::restore_request(rank, 2)), 3, rank, 2);
  }));
}

TEST(Sharded, ReplicatedValuesAreWrittenOnceAndEachRankWritesItsOwnFile) {
  TempDir dir;
  save_steps(dir.path(), 3, 0, 0);
  Checkpointer single(testing::quiet_options(dir.path()));
  const auto listed = single.list_checkpoints();
  ASSERT_EQ(listed.size(), 1u);
  std::vector<std::string> files = testing::entry_names(listed[0].paths.dir);
  EXPECT_EQ(files, (std::vector<std::string>{"MANIFEST.json", "model.safetensors",
                                             "shards-rank00000.safetensors",
                                             "shards-rank00001.safetensors",
                                             "shards-rank00002.safetensors",
                                             "training_state.safetensors"}));
  // model.safetensors holds the replicated values only; the sharded ones are in the shard files.
  const State model = load_file(listed[0].paths.model);
  EXPECT_TRUE(model.at("fc.bias").is_tensor());
  EXPECT_TRUE(model.at("big").is_null());
  const auto shard = SafetensorsFile::open(listed[0].paths.dir / "shards-rank00001.safetensors");
  EXPECT_EQ(shard.tensors().size(), 4u);
  EXPECT_TRUE(verify_path(dir.path()).ok());
}

TEST(Sharded, ARankThatFailsMidSaveLeavesNothingVisibleAndEveryRankIsTold) {
  TempDir dir;
  save_steps(dir.path(), 4, 0, 0);
  ThreadRanks group(4);
  testing::FaultyStorage faulty;
  const auto errors = group.run([&](int rank) {
    CheckpointerOptions options = testing::rank_options(dir.path(), group.rank(rank));
    if (rank == 2) {
      options.storage = &faulty;
      faulty.fail_at(1, ENOSPC);  // the append of its shard file (0 creates it)
    }
    Checkpointer checkpointer(options);
    testing::ShardedTrainer trainer;
    trainer.rank = rank;
    trainer.ranks = 4;
    trainer.step = 1;
    checkpointer.save_checkpoint(1, trainer);
  });
  for (int rank = 0; rank < 4; ++rank) {
    ASSERT_TRUE(errors[rank]) << "rank " << rank << " was not told";
    try {
      std::rethrow_exception(errors[rank]);
    } catch (const RankError& error) {
      EXPECT_NE(rank, 2);
      EXPECT_NE(std::string(error.what()).find("rank 2: "), std::string::npos) << error.what();
    } catch (const IoError& error) {
      EXPECT_EQ(rank, 2) << error.what();
      EXPECT_EQ(error.error_code(), ENOSPC);
    }
  }
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{0}));
  EXPECT_TRUE(testing::entry_names(dir / "staging").empty());
  Checkpointer single(testing::quiet_options(dir.path()));
  EXPECT_EQ(single.restore_checkpoint().training_state.at("global_step").as_int(), 0);
  // The next save by all ranks goes through.
  save_steps(dir.path(), 4, 1, 1);
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{0, 1}));
}

TEST(Sharded, ATrainerThatThrowsOnOneRankAbortsTheSaveOnAll) {
  TempDir dir;
  ThreadRanks group(2);
  const auto errors = group.run([&](int rank) {
    Checkpointer checkpointer(testing::rank_options(dir.path(), group.rank(rank)));
    struct Failing : Trainer {
      int rank = 0;
      CheckpointState get_checkpoint_state() override {
        if (rank == 1) throw std::runtime_error("out of host memory");
        return testing::rank_state(0, 0, 2);
      }
    } trainer;
    trainer.rank = rank;
    checkpointer.save_checkpoint(0, trainer);
  });
  ASSERT_TRUE(errors[0] && errors[1]);
  EXPECT_THROW(std::rethrow_exception(errors[0]), RankError);
  EXPECT_TRUE(testing::epochs_on_disk(dir.path()).empty());
}

// Two ranks saved; rank 0 refused the save with an InvalidArgumentError saying `fragment`, rank 1
// was told with a RankError, and nothing was published.
void expect_refused_by_rank_0(const std::vector<std::exception_ptr>& errors, const fs::path& dir,
                              const std::string& fragment) {
  ASSERT_TRUE(errors[0] && errors[1]);
  try {
    std::rethrow_exception(errors[0]);
  } catch (const InvalidArgumentError& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
  EXPECT_THROW(std::rethrow_exception(errors[1]), RankError);
  EXPECT_TRUE(testing::epochs_on_disk(dir).empty());
}

TEST(Sharded, PiecesThatDoNotTileTheTensorAreRefusedAndNothingIsPublished) {
  TempDir dir;
  ThreadRanks group(2);
  const auto errors = group.run([&](int rank) {
    Checkpointer checkpointer(testing::rank_options(dir.path(), group.rank(rank)));
    struct Overlapping : Trainer {
      CheckpointState get_checkpoint_state() override {
        CheckpointState state{State::map(), State::map()};
        state.model_state["w"] = testing::patterned_tensor(DType::F32, {3, 4}, 1);
        state.shards[{"model_state", "w"}] = Shard{{5, 4}, {0, 0}};  // both ranks at row 0
        return state;
      }
    } trainer;
    checkpointer.save_checkpoint(0, trainer);
  });
  expect_refused_by_rank_0(errors, dir.path(), "sharded tensor model_state/w: the pieces in");
}

// Pipeline-style: a tensor only rank 1 holds (rank 0 has no piece, nor the map it sits in).
struct PipelineTrainer final : Trainer {
  int rank = 0;
  bool rank0_keeps_a_copy = false;
  static Tensor layer() { return testing::patterned_tensor(DType::F32, {4, 3}, 77); }
  CheckpointState get_checkpoint_state() override {
    CheckpointState state{State::map(), State::map()};
    state.model_state["shared"] = testing::patterned_tensor(DType::F32, {2}, 5);
    if (rank == 1) {
      state.model_state["stage1"]["weight"] = layer();
      state.shards[{"model_state", "stage1", "weight"}] = Shard{{4, 3}, {0, 0}};
    } else if (rank0_keeps_a_copy) {
      state.model_state["stage1"]["weight"] = layer();
    }
    return state;
  }
};

TEST(Sharded, ATensorRank0HoldsNoPieceOfRestoresWhole) {
  TempDir dir;
  ThreadRanks group(2);
  rethrow_any(group.run([&](int rank) {
    Checkpointer checkpointer(testing::rank_options(dir.path(), group.rank(rank)));
    PipelineTrainer trainer;
    trainer.rank = rank;
    checkpointer.save_checkpoint(0, trainer);
  }));
  Checkpointer single(testing::quiet_options(dir.path()));
  const CheckpointState whole = single.restore_checkpoint();
  EXPECT_EQ(whole.model_state.at("stage1").at("weight").as_tensor(), PipelineTrainer::layer());
  EXPECT_EQ(whole.model_state.at("shared").as_tensor(), testing::patterned_tensor(DType::F32, {2}, 5));
  const Slice rows{{2, 0}, {2, 3}};
  const CheckpointState part = single.restore_shards({{{"model_state", "stage1", "weight"}, rows}});
  EXPECT_EQ(part.model_state.at("stage1").at("weight").as_tensor(), testing::cut(PipelineTrainer::layer(), rows));
}

TEST(Sharded, Rank0HoldingAValueAnotherRankShardsIsRefused) {
  TempDir dir;
  ThreadRanks group(2);
  const auto errors = group.run([&](int rank) {
    Checkpointer checkpointer(testing::rank_options(dir.path(), group.rank(rank)));
    PipelineTrainer trainer;
    trainer.rank = rank;
    trainer.rank0_keeps_a_copy = true;
    checkpointer.save_checkpoint(0, trainer);
  });
  expect_refused_by_rank_0(errors, dir.path(),
                           "model_state/stage1/weight: rank 0 holds a value of its own");
}

TEST(Sharded, AShardOutsideItsGlobalShapeIsAClearError) {
  TempDir dir;
  Checkpointer checkpointer(testing::quiet_options(dir.path()));
  struct Outside : Trainer {
    CheckpointState get_checkpoint_state() override {
      CheckpointState state{State::map(), State::map()};
      state.model_state["w"] = testing::patterned_tensor(DType::F32, {3, 4}, 1);
      state.shards[{"model_state", "w"}] = Shard{{4, 4}, {2, 0}};
      return state;
    }
  } trainer;
  const std::string message = testing::invalid_argument_message([&] { checkpointer.save_checkpoint(0, trainer); });
  EXPECT_NE(message.find("model_state/w: along dimension 0 the piece of 3 from offset 2 lies outside the global extent 4"),
            std::string::npos)
      << message;
}

TEST(Sharded, RetentionAfterManySavesKeepsWhatThePolicySays) {
  TempDir dir;
  save_steps(dir.path(), 3, 0, 9, /*keep=*/3);
  EXPECT_EQ(testing::epochs_on_disk(dir.path()), (std::vector<int64_t>{7, 8, 9}));
  // The best (step 8, the last marked) survives retention as best/.
  Checkpointer single(testing::quiet_options(dir.path(), 3));
  EXPECT_EQ(single.best_model_state(), testing::full_state(8).model_state);
  EXPECT_TRUE(verify_path(dir.path()).ok());
}

// Flips one byte of a file.
void flip_byte(const fs::path& path, uint64_t offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x40);
  file.seekp(static_cast<std::streamoff>(offset));
  file.write(&byte, 1);
}

TEST(Sharded, ABoxReadsAndVerifiesOnlyTheBlocksItTouches) {
  TempDir dir;
  save_steps(dir.path(), 1, 0, 0);
  Checkpointer single(testing::quiet_options(dir.path()));
  const fs::path file = single.list_checkpoints().at(0).paths.dir / "shards-rank00000.safetensors";
  const auto opened = SafetensorsFile::open(file);
  const TensorInfo* big = nullptr;
  for (const auto& info : opened.tensors()) {
    if (info.name == "model_state/big") big = &info;
  }
  ASSERT_NE(big, nullptr);
  uint64_t data_size = 0;
  for (const auto& info : opened.tensors()) data_size = std::max(data_size, info.end);
  const uint64_t data_start = opened.file_size() - data_size;
  // Damage the last row of `big` (its last 4 MiB block); rows 0-1 lie in the first blocks.
  flip_byte(file, data_start + big->end - 10);
  const Tensor whole = testing::global_tensors(0)[2].full;
  SliceRequest first_rows{{{"model_state", "big"}, Slice{{0, 0}, {2, 3'000'001}}}};
  // Only the model state is sharded here besides the optimizer moment, which comes whole.
  const CheckpointState restored = single.restore_shards(first_rows);
  EXPECT_EQ(restored.model_state.at("big").as_tensor(), testing::cut(whole, first_rows.begin()->second));
  // Asking for the damaged row finds the damage: no older checkpoint, so nothing is restored.
  SliceRequest last_row{{{"model_state", "big"}, Slice{{4, 0}, {1, 3'000'001}}}};
  EXPECT_TRUE(single.restore_shards(last_row).training_state.is_null());
  EXPECT_FALSE(verify_path(dir.path()).ok());
}

TEST(Sharded, ADamagedShardOnOneRankMakesAllRanksFallBack) {
  TempDir dir;
  save_steps(dir.path(), 2, 0, 1);
  Checkpointer single(testing::quiet_options(dir.path()));
  const fs::path file = single.list_checkpoints().back().paths.dir / "shards-rank00001.safetensors";
  flip_byte(file, fs::file_size(file) - 3);
  ThreadRanks group(2);
  rethrow_any(group.run([&](int rank) {
    Checkpointer checkpointer(testing::rank_options(dir.path(), group.rank(rank)));
    testing::expect_restored(checkpointer.restore_shards(testing::restore_request(rank, 2)), 0, rank, 2);
  }));
}

TEST(Sharded, FindLatestSharesTheChecksAndAgreesOnAllRanks) {
  TempDir dir;
  save_steps(dir.path(), 2, 0, 1);
  Checkpointer single(testing::quiet_options(dir.path()));
  const auto listed = single.list_checkpoints();
  const fs::path file = listed.back().paths.dir / "shards-rank00001.safetensors";
  flip_byte(file, fs::file_size(file) - 3);
  ThreadRanks group(2);
  std::vector<std::optional<CheckpointPaths>> found(2);
  rethrow_any(group.run([&](int rank) {
    Checkpointer checkpointer(testing::rank_options(dir.path(), group.rank(rank)));
    found[rank] = checkpointer.find_latest_checkpoint();
  }));
  for (const auto& latest : found) {
    ASSERT_TRUE(latest);
    EXPECT_EQ(latest->dir, listed.front().paths.dir);
  }
}

TEST(Sharded, BadRequestsAreClearErrors) {
  TempDir dir;
  save_steps(dir.path(), 1, 0, 0);
  Checkpointer single(testing::quiet_options(dir.path()));
  EXPECT_THROW(single.restore_shards({{{"model_state", "fc.bias"}, Slice{{0}, {10}}}}),
               InvalidArgumentError);
  EXPECT_THROW(single.restore_shards({{{"model_state", "big"}, Slice{{0, 0}, {6, 1}}}}),
               InvalidArgumentError);
}

TEST(Sharded, AMissingRankIsNamedAfterABoundedWait) {
  TempDir dir;
  ThreadRanks group(3, std::chrono::milliseconds(300));
  const auto started = std::chrono::steady_clock::now();
  const auto errors = group.run([&](int rank) {
    if (rank == 2) return;  // never saves
    Checkpointer checkpointer(testing::rank_options(dir.path(), group.rank(rank)));
    testing::ShardedTrainer trainer;
    trainer.rank = rank;
    trainer.ranks = 3;
    checkpointer.save_checkpoint(0, trainer);
  });
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  for (int rank = 0; rank < 2; ++rank) {
    ASSERT_TRUE(errors[rank]);
    try {
      std::rethrow_exception(errors[rank]);
    } catch (const RankError& error) {
      EXPECT_NE(std::string(error.what()).find("rank(s) 2 did not reach the start of a save"),
                std::string::npos)
          << error.what();
    }
  }
  EXPECT_TRUE(testing::epochs_on_disk(dir.path()).empty());
}

TEST(EvenSlice, SplitsUnevenlyFromTheFirstRank) {
  EXPECT_EQ(even_slice({10, 3}, 0, 0, 4), (Slice{{0, 0}, {3, 3}}));
  EXPECT_EQ(even_slice({10, 3}, 0, 1, 4), (Slice{{3, 0}, {3, 3}}));
  EXPECT_EQ(even_slice({10, 3}, 0, 3, 4), (Slice{{8, 0}, {2, 3}}));
  EXPECT_EQ(even_slice({2}, 0, 3, 4), (Slice{{2}, {0}}));
  EXPECT_THROW(even_slice({2}, 1, 0, 1), InvalidArgumentError);
  EXPECT_THROW(even_slice({2}, 0, 4, 4), InvalidArgumentError);
}

}  // namespace
}  // namespace cairn
