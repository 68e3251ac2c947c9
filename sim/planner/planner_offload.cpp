// Offload in the planner: the settings searched (per ZeRO stage, the optimizer / parameter offload pairs
// check_offload() allows; checkpoint offload under full recompute), the model-state terms each setting takes off
// the GPU, and the largest node's host RAM and NVMe bytes (offload_memory()'s terms and estimate()'s per-node
// totals, sim/offload/offload_memory.hpp).
#include <algorithm>

#include "partition/error.hpp"
#include "sim/accounting/stage_activations.hpp"
#include "sim/offload/offload_memory.hpp"
#include "sim/offload/offload_rules.hpp"
#include "sim/planner/planner.hpp"

namespace trainmem::sim {

// Offload choices: a fixed knob (checked against the fixed ZeRO stage / recompute with estimate()'s rules), else
// the tiers up to offload_search. Per ZeRO stage, the (optimizer, parameter) pairs check_offload() allows.
void Planner::choose_offload() {
  const auto& F = request_.fixed;
  const OffloadDevice tier = request_.offload_search;
  const bool full_fixed = F.recompute_granularity && *F.recompute_granularity == RecomputeGranularity::full;
  if (F.offload_optimizer || F.offload_param || F.offload_checkpoints) {
    OffloadConfig c;
    c.optimizer = F.offload_optimizer.value_or(OffloadDevice::none);
    c.param = F.offload_param.value_or(OffloadDevice::none);
    c.activation_checkpoints = F.offload_checkpoints.value_or(false);
    if (F.zero_stage) {
      OffloadConfig no_ckpt = c;
      no_ckpt.activation_checkpoints = false;
      check_offload(no_ckpt, *F.zero_stage, true);
    }
    if (c.activation_checkpoints && F.recompute_granularity) check_offload(c, 3, full_fixed);
  }
  auto devices = [&](const std::optional<OffloadDevice>& fixed) {
    std::vector<OffloadDevice> d;
    if (fixed) return std::vector<OffloadDevice>{*fixed};
    d.push_back(OffloadDevice::none);
    if (tier != OffloadDevice::none) d.push_back(OffloadDevice::cpu);
    if (tier == OffloadDevice::nvme) d.push_back(OffloadDevice::nvme);
    return d;
  };
  const auto opts = devices(F.offload_optimizer), params = devices(F.offload_param);
  for (int z = 0; z <= 3; ++z) {
    int best = -1;
    for (OffloadDevice o : opts)
      for (OffloadDevice p : params) {
        OffloadConfig c;
        c.optimizer = o, c.param = p;
        try {
          check_offload(c, z, true);
        } catch (const ConfigError&) {
          continue;
        }
        const StateOffload so{o, p};
        const std::uint8_t mask = removed_mask(z, so);
        const int i = num_state_off_[static_cast<std::size_t>(z)]++;
        state_off_[static_cast<std::size_t>(z)][static_cast<std::size_t>(i)] = so;
        auto& bm = bound_mask_[static_cast<std::size_t>(z)];
        if (best < 0 || (mask | bm) == mask) best = i;
        bm = static_cast<std::uint8_t>(bm | mask);
      }
    bound_choice_[static_cast<std::size_t>(z)] = std::max(best, 0);
  }
  if (F.offload_checkpoints) {
    ckpt_full_[static_cast<std::size_t>(num_ckpt_full_++)] = *F.offload_checkpoints;
    ckpt_other_ = !*F.offload_checkpoints;
  } else {
    ckpt_full_[static_cast<std::size_t>(num_ckpt_full_++)] = false;
    if (tier != OffloadDevice::none) ckpt_full_[static_cast<std::size_t>(num_ckpt_full_++)] = true;
  }
  offload_in_space_ =
      tier != OffloadDevice::none || F.offload_optimizer.value_or(OffloadDevice::none) != OffloadDevice::none ||
      F.offload_param.value_or(OffloadDevice::none) != OffloadDevice::none || F.offload_checkpoints.value_or(false);
}

// The terms offload_memory() takes off the GPU under `so` (state_term_fate(): any fate but `stays`).
std::uint8_t Planner::removed_mask(int zero_stage, const StateOffload& so) const {
  std::uint8_t mask = 0;
  for (std::size_t i = 0; i < terms_.size(); ++i) {
    const ModelStateTermRule& t = terms_[i];
    if (state_term_fate(t.category, t.fp32_grad_copy, zero_stage, so.optimizer, so.param) != StateTermFate::stays)
      mask = static_cast<std::uint8_t>(mask | (1U << i));
  }
  return mask;
}

// offload_memory()'s host and NVMe bytes of the model states of stage class k, term by term in its order.
NodeOffload Planner::state_offload(const ShardPiece& S, std::size_t k, int zero_stage, std::uint64_t ways,
                                   std::uint64_t edp, std::int64_t m, const StateOffload& so) const {
  NodeOffload out;
  const OffloadConfig& cfg = resolved_.scenario.offload;  // buffer counts and sizes (the knobs are cleared)
  const bool nvme_opt = so.optimizer == OffloadDevice::nvme;
  std::uint64_t shard = 0;
  bool has_fp32_grad = false;
  for (const ModelStateTermRule& t : terms_) {
    const std::uint64_t de = t.held(S.dense[k].value, zero_stage, ways),
                        xe = t.held(S.expert[k].value, zero_stage, edp);
    const Bytes bytes = t.bytes(de) + t.bytes(xe);
    if (so.optimizer != OffloadDevice::none && optimizer_shard_term(t.category) && shard == 0) shard = de + xe;
    switch (state_term_fate(t.category, t.fp32_grad_copy, zero_stage, so.optimizer, so.param)) {
      case StateTermFate::optimizer_tier:
        (nvme_opt ? out.nvme : out.host) += bytes;
        has_fp32_grad |= t.fp32_grad_copy;
        break;
      case StateTermFate::host: out.host += bytes; break;
      case StateTermFate::param_tier:
        if (so.param == OffloadDevice::nvme) {
          out.nvme += bytes;
          out.host += param_swap_buffers(bytes, de + xe, cfg);
        } else {
          out.host += bytes;
        }
        break;
      default: break;
    }
  }
  if (so.optimizer != OffloadDevice::none) {
    const OptimizerOffloadExtras x =
        optimizer_offload_extras(shard, has_fp32_grad, zero_stage, m, S.largest, so.optimizer,
                                 resolved_.scenario.zero_runtime.sub_group_size, cfg.optimizer_buffer_count);
    (nvme_opt ? out.nvme : out.host) += x.fp32_grad;
    out.host += x.staging + x.accumulated + x.swap_buffers;
  }
  return out;
}

NodeOffload Planner::node_offload(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                                  const OffloadChoice& off) const {
  if (!off.any()) return {};
  const Base& b = bases_[bi];
  const LayerPiece& A = layers_[b.layer + (sp ? 1U : 0U)];
  const ShardPiece& S = shards_[b.shard];
  const InflightPiece& I = inflight_[b.inflight];
  const std::int64_t pp = b.layout.pp;
  const std::uint64_t ways = b.ways, edp = b.edp;
  // Per stage class (first, middle, last): offloaded model states, and checkpoint bytes per in-flight forward.
  NodeOffload cls[3];
  Bytes ckpt[3];
  const std::int64_t n_of[3] = {b.n_first, b.n, b.n_last};
  for (int k = 0; k < 3; ++k) {
    if ((k == 1 && pp < 3) || (k == 2 && pp < 2)) continue;
    cls[k] = state_offload(S, k, zero_stage, ways, edp, b.m, {off.optimizer, off.param});
    if (off.checkpoints)
      ckpt[k] =
          A.layer.checkpoint *
          static_cast<std::uint64_t>(
              chunk_activations(A.layer, n_of[k], rc.granularity, rc.method, rc.num_layers).checkpoints_per_chunk);
  }
  const std::int64_t G = request_.gpus_per_node, R = b.layout.tp * b.layout.cp * b.layout.dp, W = R * pp;
  auto cf = [&](std::int64_t st) {
    if (!off.checkpoints) return std::uint64_t{0};
    return static_cast<std::uint64_t>(stage_cf_[I.stage_cf + static_cast<std::size_t>(st)]);
  };
  // A middle stage of ShardPiece::mid_stages has its own parameters (the checkpoints of any middle stage).
  auto mid_class = [&](std::int64_t st) -> std::size_t {
    for (std::size_t i = 0; i < S.mid_stages.size(); ++i)
      if (S.mid_stages[i] == st) return 3 + i;
    return 1;
  };
  auto states_of = [&](std::int64_t st) {
    if (st == 0) return cls[0];
    if (st == pp - 1) return cls[2];
    const std::size_t k = mid_class(st);
    return k < 3 ? cls[1] : state_offload(S, k, zero_stage, ways, edp, b.m, {off.optimizer, off.param});
  };
  auto ckpt_of = [&](std::int64_t st) { return ckpt[st == 0 ? 0 : st == pp - 1 ? 2 : 1]; };
  auto host_of = [&](std::int64_t st) { return states_of(st).host + ckpt_of(st) * cf(st); };
  NodeOffload out;
  if (R % G == 0) {  // every node inside one stage: G ranks of it
    for (std::int64_t st = 0; st < pp; ++st) {
      out.host = std::max(out.host, host_of(st) * static_cast<std::uint64_t>(G));
      out.nvme = std::max(out.nvme, states_of(st).nvme * static_cast<std::uint64_t>(G));
    }
    return out;
  }
  // Nodes of G consecutive ranks (the last may be partial) over stages of R consecutive ranks.
  for (std::int64_t a = 0; a < W; a += G) {
    const std::int64_t e = std::min(W, a + G);
    NodeOffload node;
    for (std::int64_t st = a / R; st <= (e - 1) / R; ++st) {
      const auto ranks = static_cast<std::uint64_t>(std::min(e, (st + 1) * R) - std::max(a, st * R));
      node.host += host_of(st) * ranks;
      node.nvme += states_of(st).nvme * ranks;
    }
    out.host = std::max(out.host, node.host);
    out.nvme = std::max(out.nvme, node.nvme);
  }
  return out;
}

}  // namespace trainmem::sim
