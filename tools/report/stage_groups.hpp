// The pipeline stages of a simulation grouped by identical replays (same peak, breakdown and live
// microbatches): `simulate`'s table, trace and HTML show one row or track per group.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/engine/simulate.hpp"

namespace trainmem::tools {

// Groups of indices into result.stages, in stage order.
std::vector<std::vector<std::size_t>> stage_groups(const sim::SimulationResult& result);
// "0-3,7": the pipeline ranks of a group.
std::string stage_list(const sim::SimulationResult& result, const std::vector<std::size_t>& group);
// Every global rank on the group's stages.
std::vector<std::int64_t> group_ranks(const sim::SimulationResult& result, const std::vector<std::size_t>& group);

}  // namespace trainmem::tools
