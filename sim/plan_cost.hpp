// The planner's cost proxy: a layout's relative step time (1 = compute only, no recompute, no bubble,
// no communication), from the pipeline bubble (pp-1)/(m*vpp) (Narayanan et al. 2021, Sec. 2.2), the
// recompute FLOP overhead (Korthikanti et al. 2022, Sec. 5) and per-GPU communication bytes per step
// (TP/SP: Korthikanti Sec. 4.2; ZeRO: Rajbhandari et al. 2019, Sec. 7; CP ring, PP p2p, EP all-to-all).
// A ranking proxy, not a throughput prediction: see docs/planner.md.
#pragma once

#include <cstdint>

#include "sim/plan_space.hpp"

namespace trainmem::sim {

// Hardware rates the proxy converts bytes and FLOPs to time with (H100-class defaults, docs/planner.md).
struct CostRates {
  double flops_per_s = 400e12;            // achieved bf16 FLOP/s per GPU (about 40% of an H100's 989 TFLOP/s dense)
  double intra_node_bytes_per_s = 450e9;  // NVLink 4: 900 GB/s bidirectional per GPU, one direction
  double inter_node_bytes_per_s = 50e9;   // one 400 Gb/s InfiniBand NIC per GPU
};

struct PlanCost {
  double bubble = 0;     // (pp-1)/(m*vpp)
  double recompute = 0;  // extra FLOPs / the step's training FLOPs (3x forward)
  double comm = 0;       // communication time / compute time (nothing overlapped)
  double total = 0;      // (1 + recompute) * (1 + bubble) + comm
  // Bytes one GPU sends per step, per group.
  double tp_bytes = 0, cp_bytes = 0, dp_bytes = 0, pp_bytes = 0, ep_bytes = 0;
};

// Per-model FLOP and size constants, computed once per request.
class PlanCostModel {
 public:
  PlanCostModel(const ModelSpec& model, const TrainingConfig& resolved_training, unsigned activation_bytes,
                unsigned gradient_bytes, std::int64_t gpus_per_node, CostRates rates = {});
  // `params_per_rank_dense/expert`: parameters the rank holds before ZeRO (its largest stage).
  PlanCost cost(const PlanLayout& layout, std::int64_t num_microbatches, double params_per_rank_dense,
                double params_per_rank_expert) const;

 private:
  double s_, h_, layers_, kv_width_, act_bytes_, grad_bytes_, gbs_, topk_;
  bool moe_;
  double layer_flops_per_token_;  // forward: linears (2 FLOPs per active parameter) + attention core
  double core_flops_per_token_;   // forward attention core: QK^T and probs @ V, 4 * s * heads * head_dim
  double step_flops_per_token_;   // training, no recompute: 3 x (layers + LM head) forward
  std::int64_t gpus_per_node_;
  CostRates rates_;
};

}  // namespace trainmem::sim
