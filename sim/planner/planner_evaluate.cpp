// The compiled evaluator: a layout's worst-rank peak from the pieces precomputed per base (planner_pieces.cpp), the
// same arithmetic as estimate() byte for byte: model states (with the allocator's segment rounding), the stage's
// activations and temporaries over its in-flight forwards, and the runtime's fixed part and fragmentation reserve.
// Allocation-free.
#include <algorithm>

#include "sim/accounting/stage_activations.hpp"
#include "sim/planner/planner.hpp"
#include "sim/runtime/runtime_memory.hpp"

namespace trainmem::sim {

Bytes Planner::states(ElementCount dense, ElementCount expert, int zero_stage, std::uint64_t ways, std::uint64_t edp,
                      std::uint8_t removed) const {
  return removed == 0 ? states_impl<false>(dense, expert, zero_stage, ways, edp, 0)
                      : states_impl<true>(dense, expert, zero_stage, ways, edp, removed);
}

template <bool kMask>
Bytes Planner::states_impl(ElementCount dense, ElementCount expert, int zero_stage, std::uint64_t ways,
                           std::uint64_t edp, std::uint8_t removed) const {
  // The ZeRO shard of each buffer (zero_shard_elements()), for the terms sharded at this stage.
  const std::uint64_t d_sh = zero_shard_elements(dense, static_cast<std::int64_t>(ways)).value;
  const std::uint64_t x_sh = zero_shard_elements(expert, static_cast<std::int64_t>(edp)).value;
  Bytes sum;
  const std::size_t n = terms_.size();
  for (std::size_t i = 0; i < n; ++i) {
    // Offloaded (or, ZeRO-2 gradients under optimizer offload, never allocated): neither bytes nor a buffer.
    if constexpr (kMask)
      if ((removed >> i) & 1U) continue;
    const ModelStateTermRule& r = terms_[i];
    const bool sharded = r.sharded(zero_stage);
    const Bytes term = r.bytes(sharded ? d_sh : dense.value) + r.bytes(sharded ? x_sh : expert.value);
    sum += term;
    // Each model-state tensor class is one flat buffer: the caching allocator rounds it to whole 2 MiB
    // segments (sim/runtime/runtime_memory.hpp, as finish_rank_class() does for estimate()).
    if (rounding_ && term.value > 0) sum += round_up_waste(term, kSegmentRounding);
  }
  return sum;
}

// Non-model bytes of one stage (estimate()'s `runtime`, sim/runtime/runtime_memory.hpp): the layout's fixed part
// (CUDA context, NCCL communicators of its groups, workspaces; precomputed per base) plus the fragmentation
// reserve of the stage's dynamic bytes (activations + temporaries). The allocator rounding of the model-state
// buffers is added in states(). `buffers` are 0 in estimate() (simulate adds them) and offload is refused.
Bytes Planner::non_model_bytes(const Base& b, Bytes dynamic) const {
  return b.runtime_fixed + (fragmentation_ppm_ > 0 ? parts_per_million(dynamic, fragmentation_ppm_) : Bytes(0));
}

Bytes Planner::evaluate(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                        const OffloadChoice& off) const {
  // Without offload the same arithmetic as before offload was a knob (no mask, no checkpoint term); the offload
  // variant stays out of line so that the common path inlines as it did.
  if (off.any()) [[unlikely]]
    return evaluate_offload(bi, sp, zero_stage, rc, off);
  if (hf_) [[unlikely]]
    return evaluate_hf(bi, zero_stage, rc);
  return evaluate_impl<false>(bi, sp, zero_stage, rc, off);
}

[[gnu::noinline]] Bytes Planner::evaluate_offload(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                                                  const OffloadChoice& off) const {
  return evaluate_impl<true>(bi, sp, zero_stage, rc, off);
}

template <bool kOffload>
Bytes Planner::evaluate_impl(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                             const OffloadChoice& off) const {
  const Base& b = bases_[bi];
  const LayerPiece& A = layers_[b.layer + (sp ? 1U : 0U)];
  const ShardPiece& S = shards_[b.shard];
  const InflightPiece& I = inflight_[b.inflight];
  const ChunkActivations ch = chunk_activations(A.layer, b.n_first, rc.granularity, rc.method, rc.num_layers);
  const auto ways = static_cast<std::uint64_t>(b.layout.dp * b.layout.cp);
  const std::int64_t etp = b.layout.etp == 0 ? b.layout.tp : b.layout.etp;
  const auto edp = static_cast<std::uint64_t>(b.layout.tp * b.layout.cp * b.layout.dp / (etp * b.layout.ep));
  const Bytes transient = ch.recompute_transient + A.layer.cp_exchange_bytes;
  const bool uneven = b.layout.first_stage_layers != 0 || b.layout.last_stage_layers != 0;
  auto u = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
  std::uint8_t removed = 0;
  if constexpr (kOffload) removed = removed_mask(zero_stage, {off.optimizer, off.param});
  // A stage's peak: model states + dynamic bytes (activations + temporaries) + its runtime.
  auto stage = [&](int k, Bytes dynamic) {
    if constexpr (kOffload)
      return states(S.dense[k], S.expert[k], zero_stage, ways, edp, removed) + dynamic + non_model_bytes(b, dynamic);
    else
      return states_impl<false>(S.dense[k], S.expert[k], zero_stage, ways, edp, 0) + dynamic +
             non_model_bytes(b, dynamic);
  };
  // The chunk's bytes of all in-flight forwards; under checkpoint offload its checkpoints live in host memory.
  auto kept = [&](const ChunkActivations& c, std::int64_t cf) {
    if constexpr (kOffload)
      if (off.checkpoints) return c.chunk_bytes * u(cf) - A.layer.checkpoint * u(c.checkpoints_per_chunk) * u(cf);
    return c.chunk_bytes * u(cf);
  };
  if (b.layout.pp == 1) {
    return stage(0, kept(ch, I.first_cf) + A.first_saved * u(I.first_extra) + A.last_saved * u(I.last_extra) +
                        std::max(transient, A.loss_transient));
  }
  const Bytes first = stage(0, kept(ch, I.first_cf) + A.first_saved * u(I.first_extra) + transient);
  // Uneven split: the last and middle stages have their own chunk sizes.
  const ChunkActivations ch_last =
      uneven ? chunk_activations(A.layer, b.n_last, rc.granularity, rc.method, rc.num_layers) : ch;
  const Bytes transient_last = ch_last.recompute_transient + A.layer.cp_exchange_bytes;
  const Bytes last =
      stage(2, kept(ch_last, I.last_cf) + A.last_saved * u(I.last_extra) + std::max(transient_last, A.loss_transient));
  Bytes worst = std::max(first, last);
  if (b.layout.pp >= 3) {
    const ChunkActivations ch_mid =
        uneven ? chunk_activations(A.layer, b.n, rc.granularity, rc.method, rc.num_layers) : ch;
    worst = std::max(worst, stage(1, kept(ch_mid, I.mid_cf) + ch_mid.recompute_transient + A.layer.cp_exchange_bytes));
  }
  return worst;
}

}  // namespace trainmem::sim
