// The planner's cost proxy: a layout's relative step time (1 = compute only, no recompute, no bubble,
// no communication), from the pipeline bubble (pp-1)/(m*vpp) (Narayanan et al. 2021, Sec. 2.2), the
// recompute FLOP overhead (Korthikanti et al. 2022, Sec. 5) and per-GPU communication bytes per step
// (TP/SP: Korthikanti Sec. 4.2; ZeRO: Rajbhandari et al. 2019, Sec. 7; CP ring, PP p2p, EP all-to-all), and
// offload's PCIe/NVMe traffic and CPU optimizer step (ZeRO-Offload: Ren et al. 2021, Sec. 4; ZeRO-Infinity).
// A ranking proxy, not a throughput prediction: see docs/planner.md.
#pragma once

#include <cstdint>

#include "sim/planner/plan_space.hpp"

namespace trainmem::sim {

// Hardware rates the proxy converts bytes and FLOPs to time with (H100-class defaults, docs/planner.md).
struct CostRates {
  double flops_per_s = 400e12;            // achieved bf16 FLOP/s per GPU (about 40% of an H100's 989 TFLOP/s dense)
  double intra_node_bytes_per_s = 450e9;  // NVLink 4: 900 GB/s bidirectional per GPU, one direction
  double inter_node_bytes_per_s = 50e9;   // one 400 Gb/s InfiniBand NIC per GPU
  // Offload (docs/planner.md section 7): per GPU, one PCIe Gen5 x16 link (32 GT/s x 16 lanes x 128b/130b =
  // 63 GB/s per direction); per node, the NVMe drives (8 PCIe Gen4 U.2 drives, write-bound: about 25 GB/s)
  // and the CPU optimizer (memory-bound: about 30 bytes of host traffic per parameter over ~150 GB/s).
  double pcie_bytes_per_s = 63e9;
  double nvme_bytes_per_s_per_node = 25e9;
  double cpu_optimizer_params_per_s_per_node = 5e9;
};

struct PlanCost {
  double bubble = 0;     // (pp-1)/(m*vpp)
  double recompute = 0;  // extra FLOPs / the step's training FLOPs (3x forward)
  double comm = 0;       // communication time / compute time (nothing overlapped)
  double total = 0;      // (1 + recompute) * (1 + bubble) + comm + offload
  // Bytes one GPU sends per step, per group.
  double tp_bytes = 0, cp_bytes = 0, dp_bytes = 0, pp_bytes = 0, ep_bytes = 0;
  double ulysses_bytes = 0;    // Ulysses all-to-alls of q, k, v and the attention output
  double replicate_bytes = 0;  // HSDP: the all-reduce of the gradient shard across dp / shard_group_size replicas
  double offload = 0;          // offload time (PCIe + NVMe + CPU optimizer) / compute time
  double pcie_bytes = 0, nvme_bytes = 0;  // one GPU's offload traffic per step over PCIe / to its node's NVMe
};

// Per-model FLOP and size constants, computed once per request.
class PlanCostModel {
 public:
  // `offloaded_state_bytes`: bytes per parameter an offloaded optimizer keeps off the GPU (fp32 master, moments,
  // fp32 gradients: 16 for mixed-16 + Adam), read and written every step when they live on NVMe.
  PlanCostModel(const ModelSpec& model, const TrainingConfig& resolved_training, unsigned activation_bytes,
                unsigned gradient_bytes, std::int64_t gpus_per_node, CostRates rates = {},
                double offloaded_state_bytes = 16.0);
  // `params_per_rank_dense/expert`: parameters the rank holds before ZeRO (its largest stage);
  // `checkpoint_bytes`: one full-recompute checkpoint (a layer input) of one microbatch, for checkpoint offload.
  PlanCost cost(const PlanLayout& layout, std::int64_t num_microbatches, double params_per_rank_dense,
                double params_per_rank_expert, double checkpoint_bytes = 0.0) const;

 private:
  double s_, h_, layers_, kv_width_, act_bytes_, grad_bytes_, gbs_, topk_;
  bool moe_;
  double layer_flops_per_token_;  // forward: linears (2 FLOPs per active parameter) + attention core
  double core_flops_per_token_;   // forward attention core: QK^T and probs @ V, 4 * s * heads * head_dim
  double step_flops_per_token_;   // training, no recompute: 3 x (layers + LM head) forward
  std::int64_t gpus_per_node_;
  CostRates rates_;
  double offloaded_state_bytes_;
};

}  // namespace trainmem::sim
