// --explain lines for one rank class's offloaded bytes (host RAM, NVMe) and its non-model runtime memory
// (docs/offload.md, docs/runtime-memory.md).
#pragma once

#include <ostream>

#include "sim/accounting/estimate.hpp"

namespace trainmem::tools {

void explain_offload_runtime(std::ostream& out, const sim::RankClass& c, const sim::Scenario& scenario);

}  // namespace trainmem::tools
