// from_config: AllenNLP-style JSON, "type" optional, unknown keys named, registered types.
#include <gtest/gtest.h>

#include "cairn/cairn.hpp"
#include "support/temp_dir.hpp"
#include "support/trainers.hpp"

namespace cairn {
namespace {

using testing::TempDir;

TEST(FromConfig, BuildsTheDefaultWithTheGivenOptions) {
  TempDir dir;
  auto checkpointer = Checkpointer::from_config(
      R"({"type": "default", "num_serialized_models_to_keep": 3,
          "keep_serialized_model_every_num_seconds": 3600, "model_save_interval": 60.5})",
      dir.path());
  const auto& options = checkpointer->options();
  EXPECT_EQ(options.serialization_dir, dir.path());
  EXPECT_EQ(options.num_serialized_models_to_keep, 3);
  EXPECT_EQ(options.keep_serialized_model_every_num_seconds, 3600.0);
  EXPECT_EQ(options.model_save_interval, 60.5);
}

TEST(FromConfig, TypeMayBeLeftOutAndDefaultsMatchAllenNlp) {
  TempDir dir;
  auto checkpointer = Checkpointer::from_config("{}", dir.path());
  EXPECT_EQ(checkpointer->options().num_serialized_models_to_keep, 2);
  EXPECT_FALSE(checkpointer->options().keep_serialized_model_every_num_seconds.has_value());
  EXPECT_FALSE(checkpointer->options().model_save_interval.has_value());
  auto keep_all = Checkpointer::from_config(R"({"num_serialized_models_to_keep": null})", dir.path());
  EXPECT_FALSE(keep_all->options().num_serialized_models_to_keep.has_value());
}

TEST(FromConfig, ErrorsNameTheKey) {
  TempDir dir;
  EXPECT_NE(testing::invalid_argument_message([&] {
              Checkpointer::from_config(R"({"num_serialized_models_to_kep": 3})", dir.path());
            }).find("unknown key \"num_serialized_models_to_kep\""),
            std::string::npos);
  EXPECT_NE(testing::invalid_argument_message([&] {
              Checkpointer::from_config(R"({"model_save_interval": "often"})", dir.path());
            }).find("\"model_save_interval\""),
            std::string::npos);
  EXPECT_NE(testing::invalid_argument_message([&] {
              Checkpointer::from_config(R"({"num_serialized_models_to_keep": 2.5})", dir.path());
            }).find("\"num_serialized_models_to_keep\""),
            std::string::npos);
  EXPECT_NE(testing::invalid_argument_message([&] { Checkpointer::from_config(R"({"type": "nope"})", dir.path()); })
                .find("unknown type \"nope\""),
            std::string::npos);
  EXPECT_NE(testing::invalid_argument_message([&] { Checkpointer::from_config("[1]", dir.path()); }).find("JSON object"),
            std::string::npos);
  EXPECT_NE(testing::invalid_argument_message([&] { Checkpointer::from_config("{", dir.path()); }).find("not valid JSON"),
            std::string::npos);
}

// A user's implementation with an option of its own, registered by name.
class EveryOtherEpoch : public Checkpointer {
 public:
  EveryOtherEpoch(CheckpointerOptions options, int stride)
      : Checkpointer(std::move(options)), stride_(stride) {}
  void save_checkpoint(int64_t epoch, Trainer& trainer, bool is_best_so_far,
                       const Metrics& metrics) override {
    if (epoch % stride_ == 0) Checkpointer::save_checkpoint(epoch, trainer, is_best_so_far, metrics);
  }
  int stride() const { return stride_; }

 private:
  int stride_;
};

TEST(FromConfig, RegisteredTypesAreBuiltByName) {
  Checkpointer::register_type("every-other", [](std::string_view json,
                                                const std::filesystem::path& dir) {
    auto options = Checkpointer::parse_options(json, dir, {"stride"});
    int stride = 2;
    if (json.find("\"stride\": 3") != std::string_view::npos) stride = 3;
    return std::make_unique<EveryOtherEpoch>(std::move(options), stride);
  });
  TempDir dir;
  auto built = Checkpointer::from_config(
      R"({"type": "every-other", "stride": 3, "num_serialized_models_to_keep": -1})", dir.path());
  auto* mine = dynamic_cast<EveryOtherEpoch*>(built.get());
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(mine->stride(), 3);
  EXPECT_EQ(mine->options().num_serialized_models_to_keep, -1);
  EXPECT_NE(testing::invalid_argument_message([&] {
              Checkpointer::from_config(R"({"type": "every-other", "strid": 3})", dir.path());
            }).find("unknown key \"strid\""),
            std::string::npos);
  // The default still refuses the subclass's key.
  EXPECT_NE(testing::invalid_argument_message([&] { Checkpointer::from_config(R"({"stride": 3})", dir.path()); })
                .find("unknown key \"stride\""),
            std::string::npos);
}

}  // namespace
}  // namespace cairn
