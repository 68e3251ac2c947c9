#include "tools/inputs/scenario_file.hpp"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>

#include "partition/error.hpp"
#include "tools/inputs/input_file.hpp"

namespace trainmem::tools {
namespace {
// JSON is YAML, so a config.json or ds_config.json given as the scenario parses and would fail on its first key
// ("model_type = (in config.json): unknown key"): name the flag that reads it instead.
void refuse_other_formats(const YAML::Node& root, const std::string& path) {
  for (const char* key : {"model_type", "architectures"})
    if (root[key])
      throw ConfigError("scenario", path,
                        std::string("is a Hugging Face config.json (it has ") + key +
                            "), not a scenario; pass it with --model-config " + path);
  for (const char* key : {"zero_optimization", "train_micro_batch_size_per_gpu", "train_batch_size"})
    if (root[key])
      throw ConfigError("scenario", path,
                        std::string("is a DeepSpeed ds_config (it has ") + key +
                            "), not a scenario; pass it with --deepspeed-config " + path);
}
}  // namespace

Settings load_scenario_file(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string text = read_input_file("scenario", path, "a YAML file");  // capped: /dev/zero is an error
  if (text.find('\0') != std::string::npos) throw ConfigError("scenario", path, "is a binary file, not YAML");
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError("scenario", path,
                      "malformed YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                          std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (root.IsNull()) throw ConfigError("scenario", path, "is empty (expected a mapping of settings)");
  if (!root.IsMap()) throw ConfigError("scenario", path, "must be a mapping of settings (key: value)");
  refuse_other_formats(root, path);
  Settings settings;
  std::set<std::string> seen;
  const std::string origin = fs::path(path).filename().string();
  for (const auto& kv : root) {
    if (!kv.first.IsScalar()) throw ConfigError("scenario", path, "has a key that is not a plain name");
    const std::string key = kv.first.Scalar();
    const OptionSpec* spec = find_option(key);
    if (spec == nullptr) {
      const std::string hint = suggest_option(key);
      throw ConfigError(key, "(in " + origin + ")",
                        "unknown key" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
    const std::string canonical(spec->key);
    if (!seen.insert(canonical).second) throw ConfigError(canonical, "(in " + origin + ")", "appears more than once");
    if (!kv.second.IsScalar())
      throw ConfigError(canonical, "(in " + origin + ")",
                        kv.second.IsNull() ? "has no value" : "must be a single value, not a list or mapping");
    std::string value = kv.second.Scalar();
    if ((canonical == "model_config" || canonical == "deepspeed_config" || canonical == "hf_training_args" ||
         canonical == "accelerate_config") &&
        fs::path(value).is_relative())
      value = (fs::path(path).parent_path() / value).lexically_normal().string();
    settings[canonical] = SettingValue{value, origin};
  }
  return settings;
}

}  // namespace trainmem::tools
