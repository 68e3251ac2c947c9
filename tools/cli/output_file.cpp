#include "tools/cli/output_file.hpp"

#include <fstream>

#include "partition/error.hpp"
#include "tools/cli/command_line.hpp"

namespace trainmem::tools {

std::optional<std::string> take_path_flag(std::vector<std::string>& args, const std::string& name) {
  std::optional<std::string> path = take_flag_value(args, name, "a file path");
  if (path && path->empty()) throw ConfigError(name, "''", "needs a file path");
  return path;
}

void write_output_file(const std::string& field, const std::string& path,
                       const std::function<void(std::ostream&)>& write) {
  std::ofstream f(path, std::ios::binary);
  if (!f) throw ConfigError(field, path, "cannot be written");
  write(f);
  if (!f) throw ConfigError(field, path, "cannot be written");
}

}  // namespace trainmem::tools
