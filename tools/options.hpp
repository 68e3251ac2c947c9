// The option table shared by command-line flags and YAML scenario keys: one entry per setting with its
// snake_case key (YAML), kebab-case flag (Megatron's name) and short alias (--tp). Flags override YAML.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trainmem::tools {

enum class OptionKind { integer, count, size, boolean, text };

struct OptionSpec {
  std::string_view key;    // snake_case, as in YAML: "tensor_model_parallel_size"
  std::string_view alias;  // short name usable as flag and YAML key: "tp" ("" if none)
  OptionKind kind;
  std::string_view help;
  std::string_view section;  // "model", "parallel", "training", "device", "output"
};

std::span<const OptionSpec> option_table();
// By key or alias; nullptr when unknown.
const OptionSpec* find_option(std::string_view name);
std::string flag_of(std::string_view key);  // "--tensor-model-parallel-size"

struct SettingValue {
  std::string text;
  std::string origin;  // "--tp", "scenario.yaml", ...
};
using Settings = std::map<std::string, SettingValue, std::less<>>;  // canonical key -> value

struct CommandLine {
  Settings settings;
  std::optional<std::string> scenario_path;
  bool help = false;
};

// Parses the arguments after the subcommand. Unknown flags and bad syntax throw ConfigError.
CommandLine parse_command_line(const std::vector<std::string>& args);
// The flag reference printed by --help.
std::string options_help();
// Reads a YAML scenario: a flat mapping of known keys to scalars. Paths in it (model_config) are made
// relative to the file's folder. Missing/empty/malformed files, unknown or duplicate keys throw ConfigError.
Settings load_scenario_file(const std::string& path);
// `over` wins where both have a key.
Settings merge(Settings base, const Settings& over);

}  // namespace trainmem::tools
