// `trainmem plan`: the planner's command (search, --min-gpus, --num-gpus, --why-not). The front door of
// plan_request (options -> sim::PlanRequest), plan_why_not, plan_ranks / plan_wire (the split of the search
// over mpirun ranks) and the reports of tools/report/plan/plan_report.hpp. Logic lives in sim/planner/planner.hpp.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace trainmem::tools {

// args: the arguments after "plan". Returns the exit code (0 a layout fits, 1 none fits, 2 input error);
// throws trainmem::Error for input errors (run_cli maps them to exit 2).
int run_plan(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace trainmem::tools
