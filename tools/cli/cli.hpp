// The `trainmem` command line as a function: argv in, text out, exit code back (0 ok/fits, 1 does not
// fit, 2 usage or input error, 3 runtime error). main() only forwards to it, so tests drive the real CLI.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace trainmem::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitDoesNotFit = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRuntime = 3;

// args excludes the program name: {"estimate", "--model", "gpt3-175b", ...}.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace trainmem::tools
