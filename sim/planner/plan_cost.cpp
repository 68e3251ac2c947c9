#include "sim/planner/plan_cost.hpp"

#include <algorithm>
#include <cmath>

namespace trainmem::sim {

PlanCostModel::PlanCostModel(const ModelSpec& m, const TrainingConfig& t, unsigned activation_bytes,
                             unsigned gradient_bytes, std::int64_t gpus_per_node, CostRates rates,
                             double offloaded_state_bytes)
    : s_(static_cast<double>(t.seq_length)),
      h_(static_cast<double>(m.hidden_size)),
      layers_(static_cast<double>(m.num_layers)),
      kv_width_(static_cast<double>(m.query_groups() * m.head_dim())),
      act_bytes_(activation_bytes),
      grad_bytes_(gradient_bytes),
      gbs_(static_cast<double>(t.global_batch_size)),
      topk_(static_cast<double>(m.moe_router_topk)),
      moe_(m.is_moe()),
      gpus_per_node_(gpus_per_node),
      rates_(rates),
      offloaded_state_bytes_(offloaded_state_bytes) {
  const LayerParams lp = layer_params(m, TensorSplit{1, 1, 1});
  // Active parameters per token: the dense part and top-k of the E experts.
  const double active =
      static_cast<double>(lp.dense.value) +
      (moe_ ? static_cast<double>(lp.expert.value) * topk_ / static_cast<double>(m.num_experts) : 0.0);
  core_flops_per_token_ = 4.0 * s_ * static_cast<double>(m.num_attention_heads * m.head_dim());
  layer_flops_per_token_ = 2.0 * active + core_flops_per_token_;
  const double head = 2.0 * h_ * static_cast<double>(m.vocab_size);
  step_flops_per_token_ = 3.0 * (layers_ * layer_flops_per_token_ + head);
}

PlanCost PlanCostModel::cost(const PlanLayout& l, std::int64_t num_microbatches, double p_dense, double p_expert,
                             double checkpoint_bytes) const {
  PlanCost c;
  const double m = static_cast<double>(num_microbatches);
  const double tp = static_cast<double>(l.tp), pp = static_cast<double>(l.pp), cp = static_cast<double>(l.cp);
  const double dp = static_cast<double>(l.dp), vpp = static_cast<double>(l.vpp), ep = static_cast<double>(l.ep);
  const double etp = static_cast<double>(l.etp == 0 ? l.tp : l.etp);
  const double b = static_cast<double>(l.micro_batch_size);
  const double world = tp * cp * pp * dp;

  // Pipeline bubble of 1F1B / interleaved 1F1B (Narayanan et al. 2021, Sec. 2.2.1 and 2.2.2).
  c.bubble = l.pp > 1 ? (pp - 1.0) / (m * vpp) : 0.0;

  // Recompute: selective re-runs the attention core's forward; full re-runs the forward of each
  // recomputed layer (uniform: all of them; block: N of the n layers of every chunk).
  double full_fraction = 0.0;
  double extra = 0.0;
  if (l.recompute_granularity == RecomputeGranularity::selective) {
    extra = layers_ * core_flops_per_token_;
  } else if (l.recompute_granularity == RecomputeGranularity::full) {
    const double n = layers_ / (pp * vpp);
    full_fraction =
        l.recompute_method == RecomputeMethod::block
            ? std::min(
                  static_cast<double>(l.recompute_num_layers == 0 ? n : static_cast<double>(l.recompute_num_layers)),
                  n) /
                  n
            : 1.0;
    extra = full_fraction * layers_ * layer_flops_per_token_;
  }
  c.recompute = extra / step_flops_per_token_;

  // Communication, bytes one GPU sends per step (ring collectives: an all-reduce sends 2(g-1)/g of the
  // buffer, a reduce-scatter or all-gather (g-1)/g).
  const double layers_per_stage = layers_ / pp;
  const double u = static_cast<double>(l.ulysses_sp);
  const double seq = s_ / (cp * u);              // a rank's tokens of a sequence (Ulysses splits it further)
  const double act = seq * b * h_ * act_bytes_;  // one microbatch's [s/(cp u), b, h] activation
  if (l.tp > 1)  // 2 all-reduces (SP: all-gather + reduce-scatter pairs, same volume) forward, 2 backward
    c.tp_bytes = m * layers_per_stage * (4.0 + 2.0 * full_fraction) * 2.0 * (tp - 1.0) / tp * act;
  if (l.cp > 1) {  // ring attention: K,V around the ring forward; K,V and dK,dV backward
    const double kv_local = 2.0 * seq * b * kv_width_ / tp * act_bytes_;
    c.cp_bytes = m * layers_per_stage * (3.0 + full_fraction) * (cp - 1.0) * kv_local;
  }
  if (l.pp > 1)  // activation forward and its gradient backward, per microbatch and model chunk (split by tp)
    c.pp_bytes = m * vpp * 2.0 * act / tp;
  // Gradients (and ZeRO-3 parameters) over the data-parallel group (with cp): once per step for ZeRO 0/1
  // (all-reduce, or reduce-scatter + parameter all-gather: 2 psi); ZeRO-2 reduce-scatters every microbatch
  // and gathers once ((m+1) psi); ZeRO-3 gathers forward and backward and reduce-scatters every microbatch
  // (3m psi; the ZeRO paper's 1.5x of 2 psi at m = 1).
  auto dp_volume = [&](double group, double params) {
    if (group <= 1.0 || params <= 0.0) return 0.0;
    const double rounds = l.zero_stage <= 1 ? 2.0 : l.zero_stage == 2 ? m + 1.0 : 3.0 * m;
    return rounds * (group - 1.0) / group * params * grad_bytes_;
  };
  // HSDP (shard_group_size S < dp; cp = ep = 1): the ZeRO traffic stays in the shard group, and the gradient shard
  // (1/S of the parameters) is all-reduced across the dp / S replicas once per step.
  const double shard_group = static_cast<double>(l.shard_group_size);
  if (l.shard_group_size != 0) {
    c.dp_bytes = dp_volume(shard_group, p_dense + p_expert);
    const double replicas = dp / shard_group;
    c.replicate_bytes = 2.0 * (replicas - 1.0) / replicas * (p_dense + p_expert) / shard_group * grad_bytes_;
  } else {
    c.dp_bytes = dp_volume(dp * cp, p_dense) + dp_volume(tp * cp * dp / (etp * ep), p_expert);
  }
  if (moe_ && l.ep > 1)  // dispatch and combine all-to-alls, forward and backward
    c.ep_bytes = 4.0 * m * layers_per_stage * seq * b * topk_ * h_ * act_bytes_ * (ep - 1.0) / ep;
  // Ulysses (Jacobs et al. 2023, Sec. 3): per layer an all-to-all each of q, k, v (sequence- to head-sharded) and
  // of the attention output back, forward, again in the backward and in a full recompute's forward; each sends
  // (u - 1) / u of the rank's [s/(cp u), b, width / tp] tensor.
  if (l.ulysses_sp > 1)
    c.ulysses_bytes = m * layers_per_stage * (2.0 + full_fraction) * (2.0 * h_ + 2.0 * kv_width_) / tp * seq * b *
                      act_bytes_ * (u - 1.0) / u;

  // Which links: ranks are ordered tp-cp-ep-dp-pp, so a group is inside a node when the product of its
  // degree and the faster-varying ones is at most gpus_per_node.
  const auto node = static_cast<double>(gpus_per_node_);
  auto rate = [&](double span) { return span <= node ? rates_.intra_node_bytes_per_s : rates_.inter_node_bytes_per_s; };
  // Ulysses groups and HSDP shard groups are the fastest-varying ranks of dp.
  const double dp_span = l.shard_group_size != 0 ? tp * shard_group : tp * cp * dp;
  const double comm_time = c.tp_bytes / rate(tp) + c.cp_bytes / rate(tp * cp) + c.dp_bytes / rate(dp_span) +
                           c.pp_bytes / rate(world) + c.ep_bytes / rate(etp * ep) +
                           c.ulysses_bytes / rate(tp * cp * u) + c.replicate_bytes / rate(tp * dp);
  const double compute_time = step_flops_per_token_ * gbs_ * s_ / world / rates_.flops_per_s;
  c.comm = comm_time / compute_time;

  // Offload, nothing overlapped (as for comm). The rank's ZeRO partition: shard parameters (offload needs
  // ZeRO >= 1, so the optimizer states are sharded; parameter offload needs ZeRO-3, so are the parameters).
  if (l.offloads()) {
    const double edp = tp * cp * dp / (etp * ep);
    const double shard =
        l.shard_group_size != 0 ? (p_dense + p_expert) / shard_group : p_dense / (dp * cp) + p_expert / edp;
    const double param_bytes = act_bytes_;  // the model dtype: what DeepSpeed moves over PCIe
    double cpu_params = 0;
    if (l.offload_optimizer != OffloadDevice::none) {
      // ZeRO-Offload (Ren et al. 2021, Sec. 4.1): the reduced gradient partition goes to the host (every
      // microbatch: stage 1/2 accumulate in host memory, stage 3 keeps its gradient buffer there) and the
      // updated parameters come back once: (m + 1) x 2 bytes per parameter (4 bytes at m = 1, the paper's 4M).
      c.pcie_bytes += (m + 1.0) * param_bytes * shard;
      cpu_params = shard;
      // ZeRO-Infinity: the optimizer states are read from and written back to NVMe every step.
      if (l.offload_optimizer == OffloadDevice::nvme) c.nvme_bytes += 2.0 * offloaded_state_bytes_ * shard;
    }
    if (l.offload_param != OffloadDevice::none) {
      // The parameter partition crosses PCIe for the forward and the backward gathers of every microbatch.
      c.pcie_bytes += 2.0 * m * param_bytes * shard;
      if (l.offload_param == OffloadDevice::nvme) c.nvme_bytes += (2.0 * m + 1.0) * param_bytes * shard;
    }
    if (l.offload_checkpoints && l.recompute_granularity == RecomputeGranularity::full) {
      // Every checkpoint goes to the host after the forward and back for the recompute.
      const double n = layers_ / (pp * vpp);
      const double k = static_cast<double>(l.recompute_num_layers);
      const double per_chunk =
          l.recompute_method == RecomputeMethod::block ? std::min(k == 0 ? n : k, n) : std::ceil(n / std::max(k, 1.0));
      c.pcie_bytes += 2.0 * m * vpp * per_chunk * checkpoint_bytes;
    }
    // The node's ranks share its NVMe drives and its CPUs.
    const double ranks_per_node = std::min(static_cast<double>(gpus_per_node_), world);
    const double offload_time = c.pcie_bytes / rates_.pcie_bytes_per_s +
                                ranks_per_node * c.nvme_bytes / rates_.nvme_bytes_per_s_per_node +
                                ranks_per_node * cpu_params / rates_.cpu_optimizer_params_per_s_per_node;
    c.offload = offload_time / compute_time;
  }
  c.total = (1.0 + c.recompute) * (1.0 + c.bubble) + c.comm + c.offload;
  return c;
}

}  // namespace trainmem::sim
