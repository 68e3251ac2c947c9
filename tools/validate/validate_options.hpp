// The options only `trainmem-validate` has (backend, test-only fault injection); they are split off
// the command line first, and everything else goes to the shared scenario parser (options.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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

// --inject-fault KIND:RANK (test hook): rank RANK fails in the chosen way, to prove that the whole job
// ends within seconds and says which rank failed (docs/hardening.md, fault table).
enum class FaultKind {
  alloc_fail,              // its first model-state buffer is requested as 2^62 bytes: the allocation fails
  throw_mid_collective,    // it throws half-way through the gradient reduction; the others wait inside it
  sigterm_at_setup,        // it raises SIGTERM at the setup agreement; the others wait in MPI_Allreduce
  sigterm_mid_collective,  // it raises SIGTERM half-way through the gradient reduction
  hang,                    // it sleeps forever half-way through the gradient reduction (the watchdog ends the job)
};
struct InjectedFault {
  FaultKind kind = FaultKind::alloc_fail;
  std::int64_t rank = 0;
};
std::string_view fault_kind_name(FaultKind kind);

constexpr std::int64_t kDefaultTimeoutSeconds = 300;

struct ValidateOptions {
  std::string backend = "host";  // host | cuda
  std::vector<Perturbation> perturbations;
  std::optional<std::int64_t> fail_rank;  // test-only: this rank throws after allocating
  std::optional<Bytes> assume_available;  // test-only: pretend MemAvailable is this
  std::vector<InjectedFault> faults;      // test-only: --inject-fault
  std::uint64_t seed = 1234;
  // --timeout SECONDS: the watchdog ends the job when a rank makes no progress (enters no phase, finishes
  // no collective) for this long; 0 turns it off (comm/watchdog.hpp).
  std::int64_t timeout_seconds = kDefaultTimeoutSeconds;
  bool help = false;
};

struct SplitArgs {
  ValidateOptions validate;
  std::vector<std::string> scenario_args;  // for parse_command_line
};

// Takes --backend, --perturb, --fail-rank, --inject-fault, --assume-available, --seed, --timeout (as "--x v" or
// "--x=v") and
// --help out of args; bad values throw ConfigError naming the flag and value.
SplitArgs split_validate_args(const std::vector<std::string>& args);
std::string validate_options_help();

}  // namespace trainmem::tools
