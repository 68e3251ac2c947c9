// What-ifs of a scenario: the same job re-estimated with one knob changed (each ZeRO stage 0-3, each precision
// recipe, each recompute granularity). Every row is a full sim::estimate() of the modified scenario, reported
// for its fullest rank class (bytes); a variant the layout forbids is kept as a row with the reason.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sim/accounting/estimate.hpp"

namespace trainmem::tools {

struct WhatIf {
  std::string knob;                    // "zero_stage", "recipe", "recompute_granularity"
  std::string value;                   // "0".."3", "mixed-16", ..., "none" | "selective" | "full"
  bool is_scenario = false;            // the scenario's own setting
  std::optional<std::string> skipped;  // why the variant is not estimated (the library's error message)
  sim::MemoryBreakdown bytes;          // of the fullest rank class (when not skipped)
  Bytes peak;
  std::optional<bool> fits;
};

// `base` is sim::estimate(scenario). Rows in order: zero_stage 0-3, the recipes of sim::recipes(), recompute
// none/selective/full. Changing zero_stage turns Megatron's use_distributed_optimizer off (stage 1 is the same
// sharding). Full recompute keeps the scenario's recompute_num_layers/method when it already is full, else
// recomputes every layer (uniform, groups of 1).
std::vector<WhatIf> what_ifs(const sim::Scenario& scenario, const sim::EstimateResult& base);

}  // namespace trainmem::tools
