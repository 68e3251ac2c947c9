// The compiled evaluator: a layout's worst-rank peak from the pieces precomputed per base (planner_pieces.cpp), the
// same arithmetic as estimate() byte for byte: model states (with the allocator's segment rounding), the stage's
// activations and temporaries over its in-flight forwards, and the runtime's fixed part and fragmentation reserve.
// Allocation-free.
#include <algorithm>

#include "sim/accounting/stage_activations.hpp"
#include "sim/accounting/stage_peak.hpp"
#include "sim/accounting/step_buffers.hpp"
#include "sim/offload/offload_rules.hpp"
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
// reserve of the stage's dynamic bytes (activations + buffers + temporaries at the stage's peak point). The allocator
// rounding of the model-state buffers is added in states().
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
  return evaluate_impl<false, false>(bi, sp, zero_stage, rc, off).upper;
}

[[gnu::noinline]] Bytes Planner::evaluate_offload(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                                                  const OffloadChoice& off) const {
  return evaluate_impl<true, false>(bi, sp, zero_stage, rc, off).upper;
}

Planner::PeakBounds Planner::evaluate_bounds(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                                             const OffloadChoice& off) const {
  // The same dispatch as evaluate().
  if (off.any()) [[unlikely]]
    return evaluate_impl<true, true>(bi, sp, zero_stage, rc, off);
  if (hf_) [[unlikely]] {  // the profile's step points are the replay's moments: estimate() equals the replay
    const Bytes peak = evaluate_hf(bi, zero_stage, rc);
    return {peak, peak, peak};
  }
  return evaluate_impl<false, true>(bi, sp, zero_stage, rc, off);
}

Planner::Fp32Copy Planner::fp32_copy(const ShardPiece& S, std::size_t k, int zero_stage, std::uint64_t ways,
                                     std::uint64_t edp, std::uint8_t removed) const {
  if (fp32_copy_term_ < 0 || ((removed >> fp32_copy_term_) & 1U)) return {};
  const ModelStateTermRule& r = terms_[static_cast<std::size_t>(fp32_copy_term_)];
  const std::uint64_t d = r.held(S.dense[k].value, zero_stage, ways);
  const std::uint64_t x = r.held(S.expert[k].value, zero_stage, edp);
  Fp32Copy out;
  out.bytes = r.bytes(d) + r.bytes(x);
  out.transient =
      fp32_grad_copy_step_transient(out.bytes, d + x, zero_stage, resolved_.scenario.zero_runtime.sub_group_size);
  return out;
}

Bytes Planner::memo_states(std::size_t bi, std::size_t k, const ShardPiece& S, int zero_stage,
                           std::uint8_t removed) const {
  const Base& b = bases_[bi];
  if (k >= states_memo_.states.size()) return states(S.dense[k], S.expert[k], zero_stage, b.ways, b.edp, removed);
  StatesMemo& m = states_memo_;
  if (m.base != bi || m.zero_stage != zero_stage || m.removed != removed) {
    m.base = bi, m.zero_stage = zero_stage, m.removed = removed, m.valid = 0;
  }
  const auto bit = static_cast<std::uint8_t>(1U << k);
  if ((m.valid & bit) == 0) {
    m.states[k] = states(S.dense[k], S.expert[k], zero_stage, b.ways, b.edp, removed);
    m.valid = static_cast<std::uint8_t>(m.valid | bit);
  }
  return m.states[k];
}

template <bool kOffload, bool kLower>
Planner::PeakBounds Planner::evaluate_impl(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                                           const OffloadChoice& off) const {
  const Base& b = bases_[bi];
  const LayerPiece& A = layers_[b.layer + (sp ? 1U : 0U)];
  const ShardPiece& S = shards_[b.shard];
  const InflightPiece& I = inflight_[b.inflight];
  const ChunkActivations ch = chunk_activations(A.layer, b.n_first, rc.granularity, rc.method, rc.num_layers);
  const std::uint64_t ways = b.ways, edp = b.edp;
  const bool uneven = b.layout.first_stage_layers != 0 || b.layout.last_stage_layers != 0;
  const bool block = rc.granularity == RecomputeGranularity::full && rc.method == RecomputeMethod::block;
  auto u = [](std::int64_t v) { return static_cast<std::uint64_t>(v); };
  std::uint8_t removed = 0;
  bool offload_param = false;
  if constexpr (kOffload) {
    removed = removed_mask(zero_stage, {off.optimizer, off.param});
    offload_param = off.param != OffloadDevice::none;
  }
  // A stage's peak: model states + ZeRO-3's whole small tensors + the bytes of its peak point (activations, buffers,
  // temporaries: stage_peak(), as estimate() does) + its runtime. With kLower also the replay's lower limit: the
  // same whole-step bytes less mixed-20's fp32 gradient copy, stage_peak_lower()'s points, the same runtime (the
  // replay takes estimate()'s runtime bytes) but only its fixed part at the rising point.
  auto stage = [&](std::size_t k, std::int64_t chunk_layers, const ChunkActivations& c, Bytes acts, Bytes loss_extra,
                   Bytes loss_transient, bool last_stage) -> PeakBounds {
    const StepBuffers buf = buffers_of(b, A, S, k, zero_stage, chunk_layers * b.layout.vpp, offload_param);
    const StagePeakInputs in{acts, loss_extra, loss_transient, c.recompute_transient, A.layer.cp_exchange_bytes};
    Bytes dynamic = stage_peak(in, buf).total();
    // Optimizer offload's GPU staging buffer (offload_memory()'s temp_grad_buffer_for_gpu_offload, same rule).
    Bytes staging;
    if constexpr (kOffload)
      if (off.optimizer != OffloadDevice::none)
        staging = optimizer_offload_extras(0, true, zero_stage, 1, S.largest, off.optimizer, 0, 1).staging;
    dynamic += staging;
    const Bytes st = memo_states(bi, k, S, zero_stage, removed);
    const Bytes whole = st + S.quantized[k] + buf.zero3_persistent;
    const Bytes runtime = non_model_bytes(b, dynamic);
    PeakBounds out{whole + dynamic + runtime, Bytes(0), Bytes(0)};
    if constexpr (kLower) {
      const Fp32Copy copy = fp32_copy(S, k, zero_stage, ways, edp, removed);
      Bytes freed = c.freed_before_largest;
      if constexpr (kOffload)
        if (off.checkpoints) freed = freed - A.layer.checkpoint * u(c.freed_checkpoints);
      const StagePeakLower lo = stage_peak_lower(
          in, buf, {c.last_layer_transient, freed, !last_stage, last_stage && b.layout.vpp == 1, copy.transient});
      const Bytes held = whole - copy.bytes + staging;
      out.lower_falling = held + lo.falling + runtime;
      // Full block recompute is bisected over N: its rising point takes the runtime's fixed part only (the
      // fragmentation reserve falls with N), so that it never falls with N. Other settings take the replay's runtime.
      out.lower = std::max(out.lower_falling, held + lo.rising + (block ? b.runtime_fixed : runtime));
    }
    return out;
  };
  auto worst_of = [](PeakBounds& w, const PeakBounds& s) {
    w.upper = std::max(w.upper, s.upper);
    w.lower = std::max(w.lower, s.lower);
    w.lower_falling = std::max(w.lower_falling, s.lower_falling);
  };
  // The chunk's bytes of all in-flight forwards; under checkpoint offload its checkpoints live in host memory.
  auto kept = [&](const ChunkActivations& c, std::int64_t cf) {
    if constexpr (kOffload)
      if (off.checkpoints) return c.chunk_bytes * u(cf) - A.layer.checkpoint * u(c.checkpoints_per_chunk) * u(cf);
    return c.chunk_bytes * u(cf);
  };
  if (b.layout.pp == 1) {
    return stage(0, b.n_first, ch,
                 kept(ch, I.first_cf) + A.first_saved * u(I.first_extra) + A.last_saved * u(I.last_extra), A.last_saved,
                 A.loss_transient, true);
  }
  PeakBounds worst =
      stage(0, b.n_first, ch, kept(ch, I.first_cf) + A.first_saved * u(I.first_extra), Bytes(0), Bytes(0), false);
  // Uneven split: the last and middle stages have their own chunk sizes.
  const ChunkActivations ch_last =
      uneven ? chunk_activations(A.layer, b.n_last, rc.granularity, rc.method, rc.num_layers) : ch;
  worst_of(worst, stage(2, b.n_last, ch_last, kept(ch_last, I.last_cf) + A.last_saved * u(I.last_extra), A.last_saved,
                        A.loss_transient, true));
  if (b.layout.pp >= 3) {
    const ChunkActivations ch_mid =
        uneven ? chunk_activations(A.layer, b.n, rc.granularity, rc.method, rc.num_layers) : ch;
    worst_of(worst, stage(1, b.n, ch_mid, kept(ch_mid, I.mid_cf), Bytes(0), Bytes(0), false));
    // Middle stages holding other parameters than stage 1 (DeepSeek's first dense layers), each with its forwards.
    for (std::size_t i = 0; i < S.mid_stages.size(); ++i) {
      const std::int64_t cf = stage_cf_[I.stage_cf + static_cast<std::size_t>(S.mid_stages[i])];
      worst_of(worst, stage(3 + i, b.n, ch_mid, kept(ch_mid, cf), Bytes(0), Bytes(0), false));
    }
  }
  return worst;
}

StepBuffers Planner::buffers_of(const Base& b, const LayerPiece& A, const ShardPiece& S, std::size_t k, int zero_stage,
                                std::int64_t layers, bool offload_param) const {
  StepBuffers out = A.act_buffers[b.layout.pp > 1 ? 1 : 0];
  StepBufferShape s;
  s.zero_stage = zero_stage;
  s.dp = b.layout.shard_group_size != 0 ? b.layout.shard_group_size : b.layout.dp;  // HSDP: as step_buffer_shape()
  s.cp = b.layout.cp;
  s.pp = b.layout.pp;
  s.megatron_grad_buffers = buffer_base_.megatron_grad_buffers;
  s.param_bytes = buffer_base_.param_bytes;
  s.stage_layers = layers;
  s.offload_param = offload_param;
  s.layer_partitioned = S.layer_partitioned;
  s.layer_persistent = S.layer_persistent;
  // The DDP bucket copies the rank's gradients: at stage 0 the recipe's gradient rows, unsharded (the rows
  // model_state_memory() gives estimate(); the fp32 gradient copy lives in the optimizer step).
  if (zero_stage == 0 && s.dp * s.cp > 1 && !s.megatron_grad_buffers)
    for (const ModelStateTermRule& r : terms_)
      if (r.category == MemoryCategory::grads && !r.fp32_grad_copy)
        s.grads += r.bytes(S.dense[k].value) + r.bytes(S.expert[k].value);
  add_state_buffers(s, resolved_.scenario.zero_runtime, out);
  return out;
}

}  // namespace trainmem::sim
