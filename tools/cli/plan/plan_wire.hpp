// The wire of the `mpirun` split of `trainmem plan` (plan_ranks.hpp): a rank's search result as JSON text
// (exact integers; doubles round-trip), gathered on rank 0 and read back before the merge.
#pragma once

#include <string>

#include "sim/planner/planner.hpp"

namespace trainmem::tools {

std::string result_wire(const sim::PlanResult& r);
sim::PlanResult result_from_wire(const std::string& text);

}  // namespace trainmem::tools
