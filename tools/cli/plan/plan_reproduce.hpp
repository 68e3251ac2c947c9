// The `trainmem estimate` command that reproduces a layout `trainmem plan` prints: the scenario file and
// every command-line setting that is not a layout knob or an output choice, then the layout's flags.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sim/planner/plan_space.hpp"
#include "tools/cli/command_line.hpp"

namespace trainmem::tools {

// The arguments after "trainmem" ("estimate", ...) for a layout. With a scenario file every knob is given,
// as the file may set knobs the short form leaves at their defaults; an offloading layout also gets
// --gpus-per-node (estimate's per-node host/NVMe totals group ranks by the plan's node size).
using EstimateArgs = std::function<std::vector<std::string>(const sim::PlanLayout&)>;
EstimateArgs estimate_args_for(const CommandLine& cl, std::int64_t gpus_per_node);

}  // namespace trainmem::tools
