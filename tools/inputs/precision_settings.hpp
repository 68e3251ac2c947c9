// Reads the low-precision keys (Megatron-LM flag names: use_precision_aware_optimizer, main_params_dtype,
// main_grads_dtype, exp_avg_dtype, exp_avg_sq_dtype, fp8_format, fp8_recipe, fp4_format, fp4_recipe,
// fp8_param_gather, fp4_param_gather, first_last_layers_bf16, num_layers_at_start_in_bf16,
// num_layers_at_end_in_bf16, fp8_amax_history_len) into a scenario (docs/low-precision.md).
#pragma once

#include "sim/accounting/scenario.hpp"
#include "tools/inputs/settings.hpp"

namespace trainmem::tools {

// Throws ConfigError naming the key for a bad value (choices as in Megatron's arguments.py).
void apply_low_precision(const Settings& settings, sim::Scenario& scenario);

}  // namespace trainmem::tools
