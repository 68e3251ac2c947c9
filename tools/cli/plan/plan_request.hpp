// What `trainmem plan` is asked: its own options (--min-gpus, --num-gpus, --safety-margin, --why-not, ...),
// taken out of the arguments before the usual command line is parsed, and the sim::PlanRequest they and the
// settings (flags over the YAML) make: a layout knob the settings give is fixed, the others are searched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/planner/plan_space.hpp"
#include "tools/inputs/scenario_builder.hpp"
#include "tools/inputs/settings.hpp"

namespace trainmem::tools {

struct PlanFlags {
  std::int64_t gpus_per_node = 8;
  std::optional<std::int64_t> max_gpus, num_gpus;
  bool min_gpus = false, why_not = false, uneven = false, simulate = true;
  std::uint32_t margin_ppm = 100000;
  std::size_t top = 10;
  std::int64_t max_mbs = 16, max_cp = 64;
  std::int64_t max_ulysses = 1;   // --max-ulysses-sp: Ulysses degrees searched (powers of two up to it; 1 = off)
  std::int64_t uneven_delta = 4;  // --uneven-max-delta: edge stages up to this many layers lighter
  bool hsdp_search = false;       // --hsdp-search: also search HSDP shard groups
  std::optional<std::int64_t> gpus_per_node_flag;  // given with --gpus-per-node
  sim::OffloadDevice offload_search = sim::OffloadDevice::none;
  Bytes host_memory = Bytes(sim::kDefaultHostMemoryPerNode), nvme = Bytes(sim::kDefaultNvmePerNode);
  std::optional<std::string> html;  // --html FILE: the searched layouts as a chart
};

// Takes the plan options (`--NAME VALUE`, `--NAME=VALUE`, `--SWITCH`, `--SWITCH=true|false`) out of args;
// what is left is the usual command line. Bad values throw ConfigError.
PlanFlags take_plan_flags(std::vector<std::string>& args);

// The search request of `trainmem plan` (not --why-not): the built scenario, the plan options, and each
// layout knob that `settings` gives (or a ds_config's offload) fixed to the scenario's value.
sim::PlanRequest plan_request(const Settings& settings, const BuiltScenario& built, const PlanFlags& f);

}  // namespace trainmem::tools
