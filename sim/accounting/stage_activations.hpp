// Activation memory of one pipeline stage (bytes, per rank): the layers' saved tensors under the recompute
// policy x the in-flight model-chunk forwards, plus the first/last stage extras, and the transients that
// go to `temporaries` (recompute of one chunk, CP exchange buffers, the loss). Megatron-LM recompute rules.
#pragma once

#include <cstdint>
#include <string>

#include "partition/layer_assignment.hpp"
#include "sim/accounting/activation_memory.hpp"
#include "sim/schedule/inflight_microbatches.hpp"

namespace trainmem::sim {

struct StageActivations {
  std::int64_t num_layers = 0;        // on this stage
  std::int64_t layers_per_chunk = 0;  // per model chunk (num_layers / vpp)
  // Full recompute: layers per chunk that keep only a checkpoint, and how many checkpoints a chunk keeps
  // (uniform: one per group of recompute_num_layers layers; block: one per recomputed layer).
  std::int64_t recomputed_layers_per_chunk = 0;
  std::int64_t checkpoints_per_chunk = 0;
  Bytes layer_bytes;       // one layer that is not fully recomputed, one microbatch (none/selective policy)
  Bytes checkpoint_bytes;  // one checkpoint (a layer or group input)
  Bytes chunk_bytes;       // one model chunk, one microbatch
  InflightMicrobatches inflight;
  Bytes layers_total;  // chunk_bytes x inflight.chunk_forwards

  bool first_stage = false, last_stage = false;
  StageExtras first, last;
  std::int64_t first_inflight = 0;  // microbatches of model chunk 0 alive on the first stage
  std::int64_t last_inflight = 0;   // microbatches of the last model chunk alive on the last stage
  Bytes extras_total;

  Bytes total;  // the `activations` category

  // Transients (the `temporaries` category takes the larger of the recompute+CP one and the loss one).
  Bytes recompute_transient;  // rebuilding one chunk of layers (full) or one attention core (selective)
  Bytes cp_exchange;          // ring-attention K/V buffers of one layer
  Bytes loss_transient;       // last stage: logits briefly held (see last_stage_extras)
  Bytes temporaries;
};

// One model chunk of n layers under a recompute policy, one microbatch (Megatron-LM
// TransformerBlock._checkpointed_forward): what the chunk keeps and what rebuilding it holds briefly.
// Allocation-free; stage_activations() and the planner's evaluator both use it.
struct ChunkActivations {
  Bytes layer_bytes;          // one layer that is not fully recomputed
  Bytes chunk_bytes;          // the chunk, one microbatch
  Bytes recompute_transient;  // rebuilding one group (full uniform), one layer (full block) or one attention core
  std::int64_t recomputed_layers_per_chunk = 0;
  std::int64_t checkpoints_per_chunk = 0;
  // Where the replay (sim/engine/simulate.cpp, chunk_layers()) meets the transients in a backward, which runs from
  // the chunk's last layer down: the transient of the last layer (the first one rebuilt), and the saved bytes the
  // backward frees (the layers above) before it first reaches `recompute_transient`, of which `freed_checkpoints`
  // are checkpoints (0 on the GPU under checkpoint offload). stage_peak_lower() (sim/accounting/stage_peak.hpp).
  Bytes last_layer_transient;
  Bytes freed_before_largest;
  std::int64_t freed_checkpoints = 0;
};
ChunkActivations chunk_activations(const LayerActivations& layer, std::int64_t n, RecomputeGranularity granularity,
                                   RecomputeMethod method, std::int64_t recompute_num_layers);

// `layer` is layer_activations() of the scenario's model; `stage` from assign_layers(). The resolved
// scenario's recompute settings and schedule apply.
StageActivations stage_activations(const ResolvedScenario& resolved, const LayerActivations& layer,
                                   const StageLayers& stage, std::int64_t padded_vocab_size, unsigned activation_bytes);

// Activation dtype size: 4 under the fp32 recipe (its params are fp32), else 2 (bf16/fp16 compute).
unsigned activation_bytes(const Recipe& recipe);

}  // namespace trainmem::sim
