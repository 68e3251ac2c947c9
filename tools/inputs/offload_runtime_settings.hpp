// Reads the offload keys (offload_optimizer, offload_param, ...) and the non-model memory keys (runtime,
// cuda_context, nccl_*, cublas_workspace, allocator_*), and gpus_per_node, into a scenario.
#pragma once

#include "sim/accounting/scenario.hpp"
#include "tools/inputs/settings.hpp"

namespace trainmem::tools {

// Throws ConfigError naming the key for a bad value.
void apply_offload_and_runtime(const Settings& settings, sim::Scenario& scenario);

}  // namespace trainmem::tools
