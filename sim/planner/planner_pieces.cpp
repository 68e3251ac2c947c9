// The compiled evaluator's pieces, one per distinct key while the bases are built: a layer's activations and the
// first/last stage extras (tp, etp, ep, cp, mbs; with and without sequence parallel), a rank's parameter shard per
// stage class (tp, etp, ep, pp, split), the schedule's in-flight forwards (pp, vpp, m), and the runtime's fixed
// part of a layout (CUDA context, NCCL communicators, workspaces).
#include <algorithm>

#include "partition/layer_assignment.hpp"
#include "partition/shard_plan.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/accounting/quantized_weights.hpp"
#include "sim/accounting/stage_activations.hpp"
#include "sim/planner/planner.hpp"
#include "sim/planner/planner_build.hpp"
#include "sim/runtime/runtime_memory.hpp"
#include "sim/schedule/inflight_microbatches.hpp"

namespace trainmem::sim {

std::uint32_t Planner::layer_piece(PieceIndex& ix, std::int64_t tp, std::int64_t etp, std::int64_t ep, std::int64_t cp,
                                   std::int64_t ulysses, std::int64_t mbs) {
  const Scenario& in = request_.base;
  const ModelSpec& M = *resolved_.scenario.model;
  const TrainingConfig& T = resolved_.scenario.training;
  const std::int64_t s = T.seq_length;
  const auto key = std::make_tuple(tp, etp, ep, cp, ulysses, mbs);
  if (auto it = ix.layer.find(key); it != ix.layer.end()) return it->second;
  const auto index = static_cast<std::uint32_t>(layers_.size());
  for (bool sp : {false, true}) {
    LayerPiece piece;
    ParallelConfig p;
    p.tp = tp, p.etp = etp, p.ep = ep, p.cp = cp, p.ulysses_sp = ulysses, p.sequence_parallel = sp;
    p.make_vocab_size_divisible_by = in.parallel.make_vocab_size_divisible_by;
    TrainingConfig t = T;
    t.micro_batch_size = mbs;
    // Sequence parallelism with tp 1 changes nothing (estimate() treats it as off).
    piece.valid = !sp || tp == 1 || (s % tp == 0 && (s / (cp * ulysses)) % tp == 0);
    if (piece.valid) {
      piece.layer = layer_activations(M, p, t, act_bytes_);
      piece.layer.ops.clear();
      piece.first_saved = first_stage_extras(M, p, t, act_bytes_).saved_bytes;
      const StageExtras last =
          last_stage_extras(M, p, t, act_bytes_, padded_vocab_size(M.vocab_size, p.make_vocab_size_divisible_by, tp));
      piece.last_saved = last.saved_bytes;
      piece.loss_transient = last.transient_bytes;
      Scenario probe = resolved_.scenario;
      probe.parallel = p;
      ResolvedScenario rp = resolved_;
      rp.scenario = std::move(probe);
      StepBufferShape shape = step_buffer_shape(rp, &piece.layer, Bytes(0), 0);
      for (int multi = 0; multi < 2; ++multi) {
        shape.pp = multi == 0 ? 1 : 2;
        add_activation_buffers(shape, piece.act_buffers[multi]);
      }
    }
    layers_.push_back(std::move(piece));
  }
  ix.layer.emplace(key, index);
  return index;
}

std::uint32_t Planner::shard_piece(PieceIndex& ix, std::int64_t tp, std::int64_t etp, std::int64_t ep, std::int64_t pp,
                                   std::int64_t vpp, const Split& split) {
  const Scenario& in = request_.base;
  const ModelSpec& M = *resolved_.scenario.model;
  // Which layers a stage holds matters only when the layers differ (DeepSeek's first dense layers); then the
  // virtual chunks (vpp) place them too.
  const bool mixed = M.first_dense_layers > 0;
  const auto key = std::make_tuple(tp, etp, ep, pp, split.first, split.last, mixed ? vpp : 1);
  if (auto it = ix.shard.find(key); it != ix.shard.end()) return it->second;
  ParallelConfig p;
  p.tp = tp, p.etp = etp, p.ep = ep, p.pp = pp, p.vpp = mixed ? vpp : 1;
  p.first_stage_layers = split.first, p.last_stage_layers = split.last;
  p.make_vocab_size_divisible_by = in.parallel.make_vocab_size_divisible_by;
  // The stages as estimate() assigns them (partition/layer_assignment.hpp).
  const std::vector<StageLayers> stages = assign_layers(M.num_layers, p);
  auto holds_dense = [&](const StageLayers& st) {
    for (const LayerChunk& c : st.chunks)
      if (c.first_layer < M.first_dense_layers) return true;
    return false;
  };
  ShardPiece piece;
  piece.dense.assign(3, ElementCount{0});
  piece.expert.assign(3, ElementCount{0});
  piece.quantized.assign(3, Bytes(0));
  auto put = [&](std::size_t k, const StageLayers& st) {
    const RankParamShard shard = rank_param_shard(M, p, st);
    piece.dense[k] = shard.dense;
    piece.expert[k] = shard.expert;
    // The stage's quantized weight terms (estimate()'s add_quantized_weight_terms on the bf16 params), on the
    // layers assign_layers() gives the stage.
    const LowPrecisionConfig& lp = resolved_.scenario.training.low_precision;
    if (lp.quantized()) {
      ModelStateMemory q;
      const Bytes bf16(detail::checked_mul(shard.total().value, 2, "planner fp8"));
      add_params_term(q, "bf16 parameters", "bf16", shard.total(), bf16, false);
      add_quantized_weight_terms(q, M, p, st, lp);
      // Each term is its own buffer: with allocator rounding each rounds to 2 MiB segments (as estimate() does).
      Bytes with, without = bf16 + (rounding_ ? round_up_waste(bf16, kSegmentRounding) : Bytes(0));
      for (const auto& t : q.terms)
        with += t.bytes + (rounding_ && t.bytes.value > 0 ? round_up_waste(t.bytes, kSegmentRounding) : Bytes(0));
      piece.quantized[k] = with - without;
    }
  };
  put(0, stages.front());
  if (pp >= 2) put(2, stages.back());
  if (pp >= 3) put(1, stages[1]);
  // Middle stages 2 .. pp - 2 while the one before still holds a dense layer (later ones repeat it).
  for (std::int64_t s = 2; s <= pp - 2 && holds_dense(stages[static_cast<std::size_t>(s - 1)]); ++s) {
    piece.mid_stages.push_back(s);
    piece.dense.emplace_back(0);
    piece.expert.emplace_back(0);
    piece.quantized.emplace_back(0);
    put(piece.dense.size() - 1, stages[static_cast<std::size_t>(s)]);
  }
  // ZeRO-3: the same split of one layer's tensors step_buffer_shape() makes for estimate().
  zero3_layer_split(M, TensorSplit{tp, etp, ep}, resolved_.scenario.zero_runtime.stage3_param_persistence_threshold,
                    piece.layer_partitioned, piece.layer_persistent);
  piece.largest = largest_parameter_elements(M, p, padded_vocab_size(M.vocab_size, p.make_vocab_size_divisible_by, tp));
  const auto index = static_cast<std::uint32_t>(shards_.size());
  shards_.push_back(std::move(piece));
  ix.shard.emplace(key, index);
  return index;
}

std::uint32_t Planner::inflight_piece(PieceIndex& ix, std::int64_t pp, std::int64_t vpp, std::int64_t m) {
  const TrainingConfig& T = resolved_.scenario.training;
  const bool ckpt_offload = ckpt_full_[static_cast<std::size_t>(num_ckpt_full_ - 1)];
  const auto key = std::make_tuple(pp, vpp, m);
  if (auto it = ix.inflight.find(key); it != ix.inflight.end()) return it->second;
  InflightPiece piece;
  const InflightMicrobatches first = inflight_microbatches(T.pipeline_schedule, pp, vpp, 0, m);
  piece.first_cf = first.chunk_forwards;
  piece.first_extra = first.per_chunk.front();
  if (pp == 1) {
    piece.last_cf = first.chunk_forwards;
    piece.last_extra = first.per_chunk.back();
  } else {
    const InflightMicrobatches last = inflight_microbatches(T.pipeline_schedule, pp, vpp, pp - 1, m);
    piece.last_cf = last.chunk_forwards;
    piece.last_extra = last.per_chunk.back();
  }
  // Middle stages hold the same parameters; the schedules' in-flight counts fall with the stage index
  // (warm-up (pp - rank - 1), interleaved 2 (pp - rank - 1) + (vpp - 1) pp), so stage 1 is the fullest.
  // tests/sim/planner/planner_test.cpp checks this against estimate() over every stage.
  if (pp >= 3) piece.mid_cf = inflight_microbatches(T.pipeline_schedule, pp, vpp, 1, m).chunk_forwards;
  // Every stage's chunk forwards: the per-node host total adds every stage's offloaded checkpoints, and with
  // DeepSeek's first dense layers some middle stages are evaluated on their own (ShardPiece::mid_stages).
  if (ckpt_offload || resolved_.scenario.model->first_dense_layers > 0) {
    piece.stage_cf = static_cast<std::uint32_t>(stage_cf_.size());
    for (std::int64_t st = 0; st < pp; ++st)
      stage_cf_.push_back(inflight_microbatches(T.pipeline_schedule, pp, vpp, st, m).chunk_forwards);
  }
  const auto index = static_cast<std::uint32_t>(inflight_.size());
  inflight_.push_back(piece);
  ix.inflight.emplace(key, index);
  return index;
}

Bytes Planner::runtime_fixed(const PlanLayout& l) const {
  const RuntimeConfig& rt = resolved_.scenario.runtime;
  if (!rt.enabled) return Bytes(0);
  const std::int64_t etp = l.etp == 0 ? l.tp : l.etp;
  const auto key = std::make_tuple(l.tp, l.cp, l.pp, l.dp, l.ep, etp, l.ulysses_sp, l.shard_group_size);
  if (const auto it = nccl_cache_.find(key); it != nccl_cache_.end()) return it->second;
  ParallelConfig p;
  p.tp = l.tp, p.cp = l.cp, p.pp = l.pp, p.dp = l.dp, p.ep = l.ep, p.etp = etp, p.ulysses_sp = l.ulysses_sp;
  p.shard_group_size = l.shard_group_size;
  p.world_size = l.world_size();
  // The same parts runtime_memory() gives estimate(), without the per-stage rounding and fragmentation.
  const RuntimeMemory r = runtime_memory(p, resolved_.scenario.model->is_moe(), rt, {}, Bytes(0));
  const Bytes fixed = r.cuda_context + r.nccl + r.workspaces;
  nccl_cache_.emplace(key, fixed);
  return fixed;
}

}  // namespace trainmem::sim
