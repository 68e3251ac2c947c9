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

}  // namespace trainmem::tools
