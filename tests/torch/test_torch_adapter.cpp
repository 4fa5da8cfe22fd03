// The LibTorch adapter: tensors of every dtype, module state, SGD/Adam/AdamW state and RNG
// state round-trip, and training continues identically after a restore.
#include <algorithm>

#include <gtest/gtest.h>

#include "cairn/cairn.hpp"
#include "cairn/torch.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"
#include "torch/optimizer_state_key.hpp"

namespace cairn {
namespace {

using testing::TempDir;

TEST(TorchTensor, EveryDtypeRoundTripsThroughAFile) {
  TempDir dir;
  torch::manual_seed(1);
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"bool", torch::rand({3, 4}) > 0.5},
      {"u8", torch::randint(0, 255, {5}, torch::kByte)},
      {"i8", torch::randint(-128, 127, {2, 2}, torch::kChar)},
      {"i16", torch::randint(-30000, 30000, {6}, torch::kShort)},
      {"i32", torch::randint(-1000000, 1000000, {3, 1}, torch::kInt)},
      {"i64", torch::randint(-1000000000, 1000000000, {4}, torch::kLong)},
      {"f16", torch::randn({2, 3}).to(torch::kHalf)},
      {"bf16", torch::randn({2, 3}).to(torch::kBFloat16)},
      {"f32", torch::randn({4, 5})},
      {"f64", torch::randn({3}, torch::kDouble)},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::empty({0, 3})},
  };
  State state;
  for (const auto& [name, tensor] : tensors) state[name] = from_torch(tensor);
  save_file(dir / "t.safetensors", state);
  State loaded = load_file(dir / "t.safetensors");
  for (const auto& [name, tensor] : tensors) {
    torch::Tensor back = to_torch(loaded.at(name).as_tensor());
    EXPECT_EQ(back.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(back, tensor)) << name;
    EXPECT_TRUE(torch::equal(view_as_torch(loaded.at(name).as_tensor()), tensor)) << name;
  }
  EXPECT_EQ(loaded.at("bf16").as_tensor().dtype(), DType::BF16);
  EXPECT_EQ(loaded.at("bool").as_tensor().dtype(), DType::BOOL);
}

TEST(TorchTensor, ContiguousTensorsAreNotCopiedOthersAreMadeContiguous) {
  torch::Tensor base = torch::arange(12, torch::kFloat).reshape({3, 4});
  Tensor view = from_torch(base);
  EXPECT_EQ(view.data().data(), static_cast<const std::byte*>(base.data_ptr()));
  torch::Tensor transposed = base.t();
  ASSERT_FALSE(transposed.is_contiguous());
  Tensor made = from_torch(transposed);
  EXPECT_EQ(made.shape(), (std::vector<int64_t>{4, 3}));
  EXPECT_TRUE(torch::equal(to_torch(made), transposed));
}

// The safetensors dtypes LibTorch gained after 1.13: bytes and dtype round-trip where this LibTorch
// has them (compared as bytes: LibTorch has few operators for them), else a clear error. The
// adapter finds them by name; the versions here check that it does find them in 2.x.
TEST(TorchTensor, NewerDtypesRoundTripWhereLibTorchHasThem) {
  constexpr int version = TORCH_VERSION_MAJOR * 100 + TORCH_VERSION_MINOR;
  const std::vector<std::pair<DType, int>> newer = {
      {DType::U16, 203}, {DType::U32, 203}, {DType::U64, 203},
      {DType::F8_E4M3, 201}, {DType::F8_E5M2, 201}};
  for (const auto& [dtype, since] : newer) {
    const size_t size = dtype_size(dtype);
    std::vector<std::byte> bytes(3 * size);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>(7 * i + 1);
    const Tensor tensor(dtype, {3}, bytes);
    const std::string name(dtype_name(dtype));
    if (version < since) {
      EXPECT_NE(testing::invalid_argument_message([&] { to_torch(tensor); })
                    .find("LibTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
                          std::to_string(TORCH_VERSION_MINOR) + " has no dtype for " + name),
                std::string::npos)
          << name;
      continue;
    }
    const torch::Tensor copy = to_torch(tensor);
    ASSERT_EQ(copy.element_size(), static_cast<int64_t>(size)) << name;
    const Tensor back = from_torch(copy);
    EXPECT_EQ(back.dtype(), dtype) << name;
    EXPECT_EQ(back.shape(), tensor.shape()) << name;
    EXPECT_TRUE(std::equal(back.data().begin(), back.data().end(), bytes.begin(), bytes.end()))
        << name;
    const Tensor viewed = from_torch(view_as_torch(tensor));
    EXPECT_EQ(viewed.dtype(), dtype) << name;
    EXPECT_TRUE(std::equal(viewed.data().begin(), viewed.data().end(), bytes.begin(), bytes.end()))
        << name;
  }
}

TEST(TorchTensor, UnsupportedDtypesAreClearErrors) {
  EXPECT_NE(testing::invalid_argument_message([] { from_torch(torch::zeros({2}, torch::kComplexFloat)); })
                .find("has no safetensors equivalent"),
            std::string::npos);
  EXPECT_THROW(from_torch(torch::Tensor()), InvalidArgumentError);
}

struct NetImpl : torch::nn::Module {
  NetImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(6, 8));
    norm = register_module("norm", torch::nn::BatchNorm1d(8));
    fc2 = register_module("fc2", torch::nn::Linear(8, 3));
  }
  torch::Tensor forward(torch::Tensor x) { return fc2(torch::relu(norm(fc1(x)))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::BatchNorm1d norm{nullptr};
};
TORCH_MODULE(Net);

TEST(TorchModule, StateHasPyTorchNamesAndLoadsIntoAFreshModule) {
  torch::manual_seed(2);
  Net trained;
  trained->forward(torch::randn({16, 6}));  // moves the batch-norm running statistics
  State state = module_state(*trained);
  std::vector<std::string> names;
  for (const auto& [name, value] : state.items()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "norm.weight", "norm.bias",
                                             "fc2.weight", "fc2.bias", "norm.running_mean",
                                             "norm.running_var", "norm.num_batches_tracked"}));
  TempDir dir;
  save_file(dir / "m.safetensors", state);
  Net fresh;
  load_module_state(*fresh, load_file(dir / "m.safetensors"));
  for (const auto& [name, value] : state.items()) {
    EXPECT_TRUE(torch::equal(view_as_torch(value.as_tensor()),
                             view_as_torch(module_state(*fresh).at(name).as_tensor())))
        << name;
  }
}

TEST(TorchModule, LoadErrorsNameEveryProblemAndChangeNothing) {
  Net net;
  State state = module_state(*net);
  torch::Tensor before = net->fc1->weight.clone();
  State bad = State::map();
  for (const auto& [name, value] : state.items()) {
    if (name == "fc2.bias") continue;  // missing
    bad[name] = value;
  }
  bad["fc1.weight"] = from_torch(torch::zeros({8, 7}));      // wrong shape
  bad["fc1.bias"] = from_torch(torch::zeros({8}, torch::kDouble));  // wrong dtype
  bad["extra.weight"] = from_torch(torch::zeros({1}));         // unexpected
  const std::string message = testing::invalid_argument_message([&] { load_module_state(*net, bad); });
  EXPECT_NE(message.find("missing 'fc2.bias'"), std::string::npos) << message;
  EXPECT_NE(message.find("'fc1.weight' has shape [8, 7] in the checkpoint but [8, 6]"),
            std::string::npos) << message;
  EXPECT_NE(message.find("'fc1.bias' is F64 in the checkpoint but F32 in the module"), std::string::npos)
      << message;
  EXPECT_NE(message.find("unexpected 'extra.weight'"), std::string::npos) << message;
  EXPECT_TRUE(torch::equal(net->fc1->weight, before));
}

// Trains `steps` steps on data drawn from the global generator, returning the losses.
std::vector<double> train(Net& net, torch::optim::Optimizer& optimizer, int steps) {
  std::vector<double> losses;
  for (int step = 0; step < steps; ++step) {
    torch::Tensor x = torch::randn({32, 6});  // from the global generator, restored too
    torch::Tensor y = x.sum(1, true).repeat({1, 3});
    optimizer.zero_grad();
    torch::Tensor loss = torch::mse_loss(net->forward(x), y);
    loss.backward();
    optimizer.step();
    losses.push_back(loss.item<double>());
  }
  return losses;
}

template <typename Optimizer, typename Options>
void check_continuation(Options options) {
  TempDir dir;
  torch::manual_seed(3);
  Net net;
  Optimizer optimizer(net->parameters(), options);
  train(net, optimizer, 5);
  // Checkpoint through files, as a real run would.
  CheckpointerOptions checkpointer_options;
  checkpointer_options.serialization_dir = dir.path();
  checkpointer_options.logger = null_logger();
  Checkpointer checkpointer(checkpointer_options);
  TorchTrainer trainer(*net, optimizer);
  checkpointer.save_checkpoint(0, trainer);
  std::vector<double> uninterrupted = train(net, optimizer, 6);

  torch::manual_seed(99);  // scramble the generator: restore must put it back
  Net fresh;
  Optimizer fresh_optimizer(fresh->parameters(), Options(0.5));
  TorchTrainer restorer(*fresh, fresh_optimizer);
  auto point = restorer.restore(Checkpointer(checkpointer_options).restore_checkpoint());
  EXPECT_TRUE(point.resumed);
  EXPECT_EQ(point.epoch, 1);
  EXPECT_EQ(point.batches_done, 0);
  std::vector<double> continued = train(fresh, fresh_optimizer, 6);
  EXPECT_EQ(continued, uninterrupted);  // bit for bit
}

TEST(TorchOptimizer, AdamContinuesIdentically) {
  check_continuation<torch::optim::Adam>(torch::optim::AdamOptions(0.01));
}

TEST(TorchOptimizer, AdamWithAmsgradContinuesIdentically) {
  check_continuation<torch::optim::Adam>(torch::optim::AdamOptions(0.01).amsgrad(true));
}

TEST(TorchOptimizer, AdamWContinuesIdentically) {
  check_continuation<torch::optim::AdamW>(torch::optim::AdamWOptions(0.01).weight_decay(0.1));
}

TEST(TorchOptimizer, SgdWithMomentumContinuesIdentically) {
  check_continuation<torch::optim::SGD>(torch::optim::SGDOptions(0.01).momentum(0.9).nesterov(true));
}

TEST(TorchOptimizer, StateLooksLikePyTorchsStateDict) {
  Net net;
  torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(0.002).betas({0.8, 0.9}));
  train(net, optimizer, 1);
  State state = optimizer_state(optimizer);
  EXPECT_EQ(state.at("type").as_string(), "adam");
  EXPECT_EQ(state.at("state").size(), net->parameters().size());
  EXPECT_EQ(state.at("state").at("0").at("step").as_int(), 1);
  EXPECT_TRUE(state.at("state").at("0").at("exp_avg").is_tensor());
  const State& group = state.at("param_groups").at(0);
  EXPECT_EQ(group.at("lr").as_double(), 0.002);
  EXPECT_EQ(group.at("betas").at(0).as_double(), 0.8);
  EXPECT_EQ(group.at("params").size(), net->parameters().size());
}

TEST(TorchOptimizer, MismatchesAreClearErrors) {
  Net net;
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(0.01));
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.01));
  EXPECT_NE(testing::invalid_argument_message([&] { load_optimizer_state(sgd, optimizer_state(adam)); })
                .find("not for a torch::optim sgd optimizer"),
            std::string::npos);
  torch::nn::Linear other(2, 2);
  torch::optim::Adam small(other->parameters(), torch::optim::AdamOptions(0.01));
  EXPECT_NE(testing::invalid_argument_message([&] { load_optimizer_state(small, optimizer_state(adam)); })
                .find("parameters in the state"),
            std::string::npos);
}

TEST(TorchRng, GeneratorStatesRoundTrip) {
  torch::manual_seed(5);
  State torch_state = torch_rng_state();
  torch::Tensor first = torch::rand({4});
  set_torch_rng_state(torch_state);
  EXPECT_TRUE(torch::equal(torch::rand({4}), first));
  std::mt19937_64 generator(11);
  State cpp_state = cpp_rng_state(generator);
  auto a = generator();
  std::mt19937_64 other;
  set_cpp_rng_state(other, cpp_state);
  EXPECT_EQ(other(), a);
  EXPECT_THROW(set_cpp_rng_state(other, State("garbage")), InvalidArgumentError);
}

TEST(TorchTrainer, ResumePointFollowsTheResumeRule) {
  Net net;
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1));
  TorchTrainer trainer(*net, sgd);
  EXPECT_FALSE(trainer.restore({}).resumed);
  CheckpointState saved = trainer.get_checkpoint_state();
  saved.training_state["epoch"] = 4;
  saved.training_state["batches_this_epoch"] = 17;
  auto mid = trainer.restore(saved);
  EXPECT_EQ(mid.epoch, 4);
  EXPECT_EQ(mid.batches_done, 17);
  saved.training_state.erase("batches_this_epoch");
  auto end = trainer.restore(saved);
  EXPECT_EQ(end.epoch, 5);
  EXPECT_EQ(end.batches_done, 0);
}

// The trainer's own tensors as targets: parameters and Adam moments come back in the memory
// they already had, and training continues as from a fresh load.
TEST(TorchTrainer, RestoreInPlaceFillsTheModulesOwnMemory) {
  TempDir dir;
  torch::manual_seed(3);
  Net net;
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(0.01));
  auto step = [&](Net& model, torch::optim::Adam& optimizer) {
    optimizer.zero_grad();
    model->forward(torch::randn({8, 6})).sum().backward();
    optimizer.step();
  };
  step(net, adam);
  TorchTrainer trainer(*net, adam);
  Checkpointer checkpointer(testing::quiet_options(dir.path()));
  checkpointer.save_checkpoint(0, trainer);
  const torch::Tensor saved_weight = net->fc1->weight.detach().clone();
  const torch::Tensor saved_moment =
      static_cast<torch::optim::AdamParamState&>(
          *adam.state().at(torch_internal::optimizer_state_key(net->fc1->weight)))
          .exp_avg()
          .clone();
  step(net, adam);  // moves both away from the checkpoint
  ASSERT_FALSE(torch::equal(net->fc1->weight, saved_weight));

  const void* weight_memory = net->fc1->weight.data_ptr();
  auto& moment = static_cast<torch::optim::AdamParamState&>(
      *adam.state().at(torch_internal::optimizer_state_key(net->fc1->weight)));
  const void* moment_memory = moment.exp_avg().data_ptr();
  const CheckpointState restored = checkpointer.restore_checkpoint_into(trainer.get_checkpoint_state());
  EXPECT_EQ(restored.model_state.at("fc1.weight").as_tensor().data().data(), weight_memory);
  EXPECT_TRUE(torch::equal(net->fc1->weight, saved_weight));
  EXPECT_TRUE(torch::equal(moment.exp_avg(), saved_moment));
  EXPECT_EQ(moment.exp_avg().data_ptr(), moment_memory);
  EXPECT_EQ(trainer.restore(restored).epoch, 1);
  EXPECT_EQ(net->fc1->weight.data_ptr(), weight_memory);
  EXPECT_TRUE(torch::equal(net->fc1->weight, saved_weight));
  const auto& loaded_moment = static_cast<torch::optim::AdamParamState&>(
      *adam.state().at(torch_internal::optimizer_state_key(net->fc1->weight)));
  EXPECT_EQ(loaded_moment.exp_avg().data_ptr(), moment_memory);
  EXPECT_TRUE(torch::equal(loaded_moment.exp_avg(), saved_moment));
  step(net, adam);  // the optimizer trains on in its restored memory
  EXPECT_FALSE(torch::equal(net->fc1->weight, saved_weight));
}

}  // namespace
}  // namespace cairn
