// The output files of a subcommand (`simulate --trace/--html`, `estimate --html`, `plan --html`): the path
// flag taken out of the arguments, and the file written (an unwritable path is an input error naming the flag).
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace trainmem::tools {

// Takes `--NAME PATH` / `--NAME=PATH` out of args (output files are not scenario settings).
std::optional<std::string> take_path_flag(std::vector<std::string>& args, const std::string& name);

// Writes `path` with `write`; throws ConfigError(field, path, "cannot be written") when it fails.
void write_output_file(const std::string& field, const std::string& path,
                       const std::function<void(std::ostream&)>& write);

}  // namespace trainmem::tools
