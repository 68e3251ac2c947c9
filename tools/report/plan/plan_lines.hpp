// The text pieces `trainmem plan` shares between its table (plan_table.cpp) and `--why-not`
// (tools/cli/plan/plan_why_not.cpp): the "# model", "# training" and "# device" header lines, the recompute and
// offload labels of a layout, and a reproducing command line (estimate's, or simulate's), shell-quoted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "partition/units.hpp"
#include "sim/accounting/scenario.hpp"
#include "sim/planner/plan_space.hpp"

namespace trainmem::tools {

// "gpt-100b (preset): 101,243,955,200 parameters; 80 layers, hidden 10240, ..."
std::string model_line(const sim::ResolvedScenario& r, const std::string& source);
// "recipe ... = 16 bytes/param; seq_length ...; global_batch_size ...; attention ...; schedule ..."
std::string training_line(const sim::ResolvedScenario& r);
// The device, its memory, the safety margin and the per-GPU budget it leaves.
std::string device_line(const sim::Scenario& sc, Bytes budget, std::uint32_t margin_ppm);
// "none", "selective", "full", "full/2", "block 3".
std::string recompute_label(const sim::PlanLayout& l);
// "-" or the offloaded parts ("opt-cpu,par-nvme,ckpt").
std::string offload_label(const sim::PlanLayout& l);
// "trainmem ARG ...", each argument shell-quoted where it needs it.
std::string shell_command(const std::vector<std::string>& args);
// The arguments (after "trainmem") that reproduce a layout's verdict: `estimate_args` as they are, or, for a layout
// that fits only when replayed (over the budget by estimate()), the same flags under `simulate`.
std::vector<std::string> reproduce_args(std::vector<std::string> estimate_args, bool fits_only_replayed);

}  // namespace trainmem::tools
