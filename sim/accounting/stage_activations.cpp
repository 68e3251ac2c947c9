#include "sim/accounting/stage_activations.hpp"

#include <algorithm>

namespace trainmem::sim {

unsigned activation_bytes(const Recipe& recipe) {
  if (recipe.autocast) return 2;         // autocast: matmul outputs are bf16
  return unsharded_param_bytes(recipe);  // FSDP mixed precision: the compute dtype
}

ChunkActivations chunk_activations(const LayerActivations& layer, std::int64_t n, RecomputeGranularity granularity,
                                   RecomputeMethod method, std::int64_t recompute_num_layers) {
  ChunkActivations out;
  const auto un = static_cast<std::uint64_t>(n);
  switch (granularity) {
    case RecomputeGranularity::none:
      out.layer_bytes = layer.saved_all;
      out.chunk_bytes = layer.saved_all * un;
      break;
    case RecomputeGranularity::selective:
      out.layer_bytes = layer.saved_selective;
      out.chunk_bytes = layer.saved_selective * un;
      out.recompute_transient = n > 0 ? layer.attention_core_bytes : Bytes(0);
      out.last_layer_transient = out.recompute_transient;
      break;
    case RecomputeGranularity::full: {
      out.layer_bytes = layer.saved_all;
      // recompute_num_layers 0 = every layer recomputed: uniform groups of 1, block over the whole chunk.
      const std::int64_t want = recompute_num_layers;
      if (method == RecomputeMethod::uniform) {
        // Megatron _checkpointed_forward, uniform: checkpoint(layers[l : l + N]) for l = 0, N, 2N, ...
        const std::int64_t group = std::min(want == 0 ? 1 : want, n);
        out.recomputed_layers_per_chunk = n;
        out.checkpoints_per_chunk = group == 0 ? 0 : (n + group - 1) / group;
        out.chunk_bytes = layer.checkpoint * static_cast<std::uint64_t>(out.checkpoints_per_chunk);
        out.recompute_transient = layer.saved_all * static_cast<std::uint64_t>(group);
        if (n > 0) {
          // The last group holds n - (its first layer) layers; when it is short, the first full group's rebuild
          // comes after the last group's one checkpoint was freed.
          const std::int64_t last_group = n - (n - 1) / group * group;
          out.last_layer_transient = layer.saved_all * static_cast<std::uint64_t>(last_group);
          if (last_group != group) {
            out.freed_before_largest = layer.checkpoint;
            out.freed_checkpoints = 1;
          }
        }
      } else {
        // block: the first N layers of the chunk are checkpointed one by one, the rest keep everything.
        const std::int64_t rec = std::min(want == 0 ? n : want, n);
        out.recomputed_layers_per_chunk = rec;
        out.checkpoints_per_chunk = rec;
        out.chunk_bytes =
            layer.checkpoint * static_cast<std::uint64_t>(rec) + layer.saved_all * static_cast<std::uint64_t>(n - rec);
        out.recompute_transient = rec > 0 ? layer.saved_all : Bytes(0);
        // The layers above the recomputed ones keep everything and are freed first.
        out.last_layer_transient = rec == n ? out.recompute_transient : Bytes(0);
        if (rec > 0) out.freed_before_largest = layer.saved_all * static_cast<std::uint64_t>(n - rec);
      }
      break;
    }
  }
  return out;
}

StageActivations stage_activations(const ResolvedScenario& r, const LayerActivations& layer, const StageLayers& stage,
                                   std::int64_t padded_vocab_size, unsigned act_bytes) {
  const Scenario& sc = r.scenario;
  const ParallelConfig& p = sc.parallel;
  const TrainingConfig& t = sc.training;
  const ModelSpec& m = *sc.model;
  StageActivations out;
  out.num_layers = stage.num_layers;
  const std::int64_t n = stage.chunks.front().num_layers;  // chunks of a stage are equal (resolve checks)
  out.layers_per_chunk = n;

  out.checkpoint_bytes = layer.checkpoint;
  const ChunkActivations chunk =
      chunk_activations(layer, n, t.recompute_granularity, t.recompute_method, t.recompute_num_layers);
  out.layer_bytes = chunk.layer_bytes;
  out.chunk_bytes = chunk.chunk_bytes;
  out.recompute_transient = chunk.recompute_transient;
  out.recomputed_layers_per_chunk = chunk.recomputed_layers_per_chunk;
  out.checkpoints_per_chunk = chunk.checkpoints_per_chunk;

  out.inflight = inflight_microbatches(t.pipeline_schedule, p.pp, p.vpp, stage.pp_rank, r.num_microbatches);
  out.layers_total = out.chunk_bytes * static_cast<std::uint64_t>(out.inflight.chunk_forwards);

  out.first_stage = stage.has_embedding;
  out.last_stage = stage.has_output_layer;
  if (out.first_stage) {
    out.first = first_stage_extras(m, p, t, act_bytes);
    out.first_inflight = out.inflight.per_chunk.front();
    out.extras_total += out.first.saved_bytes * static_cast<std::uint64_t>(out.first_inflight);
  }
  if (out.last_stage) {
    out.last = last_stage_extras(m, p, t, act_bytes, padded_vocab_size);
    out.last_inflight = out.inflight.per_chunk.back();
    out.extras_total += out.last.saved_bytes * static_cast<std::uint64_t>(out.last_inflight);
    out.loss_transient = out.last.transient_bytes;
  }
  out.total = out.layers_total + out.extras_total;

  out.cp_exchange = n > 0 ? layer.cp_exchange_bytes : Bytes(0);
  out.temporaries = std::max(out.recompute_transient + out.cp_exchange, out.loss_transient);
  return out;
}

}  // namespace trainmem::sim
