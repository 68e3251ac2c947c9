// Settings: the option table shared by command-line flags and YAML scenario keys (one entry per setting
// with its snake_case key (YAML), kebab-case flag (Megatron's name) and short alias (--tp)), and the
// key -> value map every input reader produces. Flags override YAML, YAML overrides ds_config / Megatron.
#pragma once

#include <map>
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
// The other names of an option, each a flag (--kebab-case) and a YAML key: `alias` and vLLM's spellings
// (tensor_parallel_size, block_size).
std::vector<std::string_view> aliases_of(const OptionSpec& o);
// By key or alias; nullptr when unknown.
const OptionSpec* find_option(std::string_view name);
std::string kebab(std::string_view key);    // "tensor_model_parallel_size" -> "tensor-model-parallel-size"
std::string flag_of(std::string_view key);  // "--tensor-model-parallel-size"
// The closest known key or alias to an unknown name ("" when nothing is close): "did you mean ...?".
std::string suggest_option(std::string_view unknown);

struct SettingValue {
  std::string text;
  std::string origin;  // "--tp", "scenario.yaml", ...
};
using Settings = std::map<std::string, SettingValue, std::less<>>;  // canonical key -> value

// `over` wins where both have a key.
Settings merge(Settings base, const Settings& over);

}  // namespace trainmem::tools
