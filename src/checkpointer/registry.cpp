// Building Checkpointers from AllenNLP-style JSON configuration, by registered type name.
#include <algorithm>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "cairn/checkpointer.hpp"
#include "cairn/error.hpp"

namespace cairn {
namespace {

using Json = nlohmann::json;

struct Registry {
  std::mutex mutex;
  std::map<std::string, Checkpointer::Factory> factories;
};

Registry& registry() {
  static Registry* instance = [] {
    auto* created = new Registry;  // never destroyed: usable during static destruction
    created->factories["default"] = [](std::string_view json, const std::filesystem::path& dir) {
      return std::make_unique<Checkpointer>(Checkpointer::parse_options(json, dir));
    };
    return created;
  }();
  return *instance;
}

Json parse_config(std::string_view json) {
  try {
    Json config = Json::parse(json);
    if (!config.is_object()) throw InvalidArgumentError("checkpointer config must be a JSON object");
    return config;
  } catch (const Json::exception& error) {
    throw InvalidArgumentError(std::string("checkpointer config is not valid JSON: ") +
                               error.what());
  }
}

std::optional<double> seconds(const Json& config, const char* key) {
  if (!config.contains(key) || config.at(key).is_null()) return std::nullopt;
  if (!config.at(key).is_number()) {
    throw InvalidArgumentError(std::string("checkpointer config: \"") + key +
                               "\" must be a number of seconds or null");
  }
  return config.at(key).get<double>();
}

std::optional<int> integer(const Json& config, const char* key) {
  if (!config.contains(key) || config.at(key).is_null()) return std::nullopt;
  const Json& value = config.at(key);
  if (value.is_number_integer() && value.get<int64_t>() >= INT32_MIN &&
      value.get<int64_t>() <= INT32_MAX) {
    return value.get<int>();
  }
  throw InvalidArgumentError(std::string("checkpointer config: \"") + key +
                             "\" must be an integer or null");
}

std::optional<std::string> text(const Json& config, const char* key) {
  if (!config.contains(key)) return std::nullopt;
  if (!config.at(key).is_string()) {
    throw InvalidArgumentError(std::string("checkpointer config: \"") + key +
                               "\" must be a string");
  }
  return config.at(key).get<std::string>();
}

}  // namespace

CheckpointerOptions Checkpointer::parse_options(std::string_view json,
                                                const std::filesystem::path& serialization_dir,
                                                const std::vector<std::string>& extra_keys) {
  Json config = parse_config(json);
  static const char* const kKnown[] = {
      "type",        "keep_serialized_model_every_num_seconds", "num_serialized_models_to_keep",
      "model_save_interval", "keep_best_k", "metric", "mode", "keep_every_n_epochs",
      "async_save", "async_staging_bytes"};
  for (const auto& [key, value] : config.items()) {
    bool known = std::find(std::begin(kKnown), std::end(kKnown), key) != std::end(kKnown) ||
                 std::find(extra_keys.begin(), extra_keys.end(), key) != extra_keys.end();
    if (!known) throw InvalidArgumentError("checkpointer config: unknown key \"" + key + "\"");
  }
  CheckpointerOptions options;
  options.serialization_dir = serialization_dir;
  options.keep_serialized_model_every_num_seconds =
      seconds(config, "keep_serialized_model_every_num_seconds");
  options.model_save_interval = seconds(config, "model_save_interval");
  if (config.contains("num_serialized_models_to_keep")) {
    options.num_serialized_models_to_keep = integer(config, "num_serialized_models_to_keep");
  }
  options.keep_best_k = integer(config, "keep_best_k");
  options.metric = text(config, "metric").value_or("");
  if (auto mode = text(config, "mode")) {
    const auto parsed = metric_mode_from_name(*mode);
    if (!parsed) {
      throw InvalidArgumentError("checkpointer config: \"mode\" must be \"min\" or \"max\", not \"" +
                                 *mode + "\"");
    }
    options.mode = *parsed;
  }
  options.keep_every_n_epochs = integer(config, "keep_every_n_epochs");
  if (config.contains("async_save")) {
    if (!config.at("async_save").is_boolean()) {
      throw InvalidArgumentError("checkpointer config: \"async_save\" must be true or false");
    }
    options.async_save = config.at("async_save").get<bool>();
  }
  if (config.contains("async_staging_bytes") && !config.at("async_staging_bytes").is_null()) {
    const Json& value = config.at("async_staging_bytes");
    if (!value.is_number_unsigned()) {
      throw InvalidArgumentError(
          "checkpointer config: \"async_staging_bytes\" must be a non-negative integer or null");
    }
    options.async_staging_bytes = value.get<uint64_t>();
  }
  return options;
}

void Checkpointer::register_type(const std::string& name, Factory factory) {
  if (!factory) throw InvalidArgumentError("checkpointer type \"" + name + "\": empty factory");
  std::lock_guard guard(registry().mutex);
  registry().factories[name] = std::move(factory);
}

std::unique_ptr<Checkpointer> Checkpointer::from_config(
    std::string_view json, const std::filesystem::path& serialization_dir) {
  Json config = parse_config(json);
  std::string type = "default";
  if (config.contains("type")) {
    if (!config.at("type").is_string()) {
      throw InvalidArgumentError("checkpointer config: \"type\" must be a string");
    }
    type = config.at("type").get<std::string>();
  }
  Factory factory;
  {
    std::lock_guard guard(registry().mutex);
    auto it = registry().factories.find(type);
    if (it == registry().factories.end()) {
      std::string known;
      for (const auto& [name, unused] : registry().factories) known += " " + name;
      throw InvalidArgumentError("checkpointer config: unknown type \"" + type +
                                 "\" (registered:" + known + ")");
    }
    factory = it->second;
  }
  return factory(json, serialization_dir);
}

}  // namespace cairn
