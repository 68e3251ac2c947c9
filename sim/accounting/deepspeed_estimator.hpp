// DeepSpeed's ZeRO model-state estimators, reproduced bit for bit for comparison:
// estimate_zero2_model_states_mem_needs (deepspeed/runtime/zero/stage_1_and_2.py) and
// estimate_zero3_model_states_mem_needs (stage3.py), as of DeepSpeed after PR #5099 (2024): GPU and CPU
// bytes before DeepSpeed formats them as GB. Python's int/float mixing is kept (int() truncates).
#pragma once

#include <cstdint>

namespace trainmem::sim {

struct DeepSpeedEstimatorInput {
  std::uint64_t total_params = 0;
  std::uint64_t largest_layer_params = 0;  // ZeRO-3 only: the module with most direct parameters
  std::int64_t num_nodes = 1;
  std::int64_t gpus_per_node = 1;
  int zero_stage = 2;                     // 2 or 3
  bool offload_optimizer = false;         // cpu_offload
  bool offload_param = false;             // cpu_offload_params (ZeRO-3, needs offload_optimizer)
  bool zero_init = true;                  // ZeRO-3 zero.Init
  double additional_buffer_factor = 1.5;  // applied to host memory only
};

struct DeepSpeedEstimate {
  std::uint64_t gpu_bytes = 0;  // per GPU
  std::uint64_t cpu_bytes = 0;  // per node (DeepSpeed prints it "per CPU")
};

// Throws ConfigError for inputs DeepSpeed's estimators do not take (stage not 2/3, param offload
// without optimizer offload, zero counts, or results beyond 2^53 where doubles stop being exact).
DeepSpeedEstimate deepspeed_estimate(const DeepSpeedEstimatorInput& in);

}  // namespace trainmem::sim
