// `trainmem explain SCENARIO`: the interview-style answer for a scenario file: its question, the rule of
// thumb (Φ x 16/18/20 bytes), every term of the fullest rank with formula, numbers and source, the total and
// verdict, and a what-if table (each ZeRO stage, recipe and recompute granularity re-estimated). Bytes, GiB.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace trainmem::tools {

// args: the arguments after `explain` (scenario file, flag overrides, --format). Returns the exit code
// (0 fits or no device given, 1 does not fit); input errors throw ConfigError.
int cmd_explain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace trainmem::tools
