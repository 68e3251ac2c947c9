// The options only `trainmem-validate` has (backend, test-only fault injection); they are split off
// the command line first, and everything else goes to the shared scenario parser (options.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "partition/units.hpp"

namespace trainmem::tools {

// --perturb [RANK:]CATEGORY=[+|-]BYTES: adds BYTES to the prediction of CATEGORY (on RANK, or every
// rank) before the comparison. Test-only: it proves the check can fail.
struct Perturbation {
  std::optional<std::int64_t> rank;
  std::string category;
  std::int64_t bytes = 0;
};

struct ValidateOptions {
  std::string backend = "host";                 // host | cuda
  std::vector<Perturbation> perturbations;
  std::optional<std::int64_t> fail_rank;        // test-only: this rank throws after allocating
  std::optional<Bytes> assume_available;        // test-only: pretend MemAvailable is this
  std::uint64_t seed = 1234;
  bool help = false;
};

struct SplitArgs {
  ValidateOptions validate;
  std::vector<std::string> scenario_args;  // for parse_command_line
};

// Takes --backend, --perturb, --fail-rank, --assume-available, --seed (as "--x v" or "--x=v") and
// --help out of args; bad values throw ConfigError naming the flag and value.
SplitArgs split_validate_args(const std::vector<std::string>& args);
std::string validate_options_help();

}  // namespace trainmem::tools
