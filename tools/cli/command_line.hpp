// The command line of a subcommand -> Settings (Boost.Program_options over the option table of
// tools/inputs/settings.hpp), the optional scenario path and --help; and the flag reference --help prints.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tools/inputs/settings.hpp"

namespace trainmem::tools {

struct CommandLine {
  Settings settings;
  std::optional<std::string> scenario_path;
  bool help = false;
};

// Parses the arguments after the subcommand. Unknown flags and bad syntax throw ConfigError.
CommandLine parse_command_line(const std::vector<std::string>& args);
// The flag reference printed by --help.
std::string options_help();

// Takes `--NAME VALUE` / `--NAME=VALUE` out of args: the flags a subcommand reads itself, which are not scenario
// settings (simulate's output files, plan's search options). The last one given wins; `what` names the value in
// the error when the value is missing ("a value", "a file path").
std::optional<std::string> take_flag_value(std::vector<std::string>& args, const std::string& name,
                                           const std::string& what = "a value");

}  // namespace trainmem::tools
