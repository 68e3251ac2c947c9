// `trainmem plan --why-not`: for the layout the usual flags give, does it fit (by estimate() and, unless
// --no-simulate, the simulator's replay), which rank overflows, by how much and in which category, and the
// cheapest single-knob changes that fit, each with its reproducing `trainmem estimate` command.
#pragma once

#include <ostream>

#include "tools/cli/command_line.hpp"
#include "tools/cli/plan/plan_request.hpp"
#include "tools/inputs/scenario_builder.hpp"

namespace trainmem::tools {

// Prints the analysis; returns kExitOk when the layout fits, kExitDoesNotFit when not.
int run_why_not(const BuiltScenario& built, const CommandLine& cl, const PlanFlags& f, std::ostream& out);

}  // namespace trainmem::tools
