// Internal to sim/planner/: the ranking helpers search() and merge_plan_results() share (plan_ranking.cpp).
#pragma once

#include <vector>

#include "sim/planner/planner.hpp"

namespace trainmem::sim {

// Smaller overflow (max_peak) first, then plan_entry_less: the closest miss when nothing fits.
bool plan_entry_closer(const PlanEntry& a, const PlanEntry& b);

// Keeps the layouts on the smallest world size (`layouts` sorted by plan_entry_less).
void keep_min_gpus(std::vector<PlanEntry>& layouts);

}  // namespace trainmem::sim
