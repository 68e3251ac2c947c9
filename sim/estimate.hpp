// estimate(): the analytic per-rank memory of a scenario. Every rank of the grid is evaluated; ranks
// with identical numbers are grouped into one RankClass with their rank list. Model states and activations
// (op-level, docs/activations.md; recompute/loss transients in temporaries); buffers and runtime are 0 for now.
// With scenario.inference.enabled: serving memory (docs/inference.md); with scenario.lora: LoRA/QLoRA (docs/lora.md).
#pragma once

#include <optional>
#include <vector>

#include "partition/layer_assignment.hpp"
#include "partition/rank_grid.hpp"
#include "partition/shard_plan.hpp"
#include "sim/activation_memory.hpp"
#include "sim/inference_memory.hpp"
#include "sim/lora_memory.hpp"
#include "sim/model_state_memory.hpp"
#include "sim/scenario.hpp"
#include "sim/stage_activations.hpp"

namespace trainmem::sim {

struct RankClass {
  std::vector<std::int64_t> ranks;     // ascending global ranks
  std::vector<std::int64_t> pp_ranks;  // the pipeline stages these ranks are on (ascending)
  RankCoords coords;                   // of the first rank
  std::int64_t num_layers = 0;         // transformer layers held (0 for a bare parameter count)
  RankParamShard shard;
  ModelStateMemory model_states;
  std::optional<StageActivations> activations;  // absent for a bare parameter count
  MemoryBreakdown bytes;
  Bytes kv_cache;                              // inference only (JSON bytes.kv_cache); 0 for training
  std::optional<InferenceRank> inference;      // --inference: weights, KV cache, workspace
  std::optional<LoraRank> lora;                // LoRA/QLoRA: frozen base and adapters
  Bytes lora_activations;                      // adapters' r-wide saved tensors (inside bytes.activations)
  Bytes peak;                                  // bytes.total() + kv_cache
};

struct EstimateResult {
  ResolvedScenario resolved;
  std::int64_t world_size = 0;
  ElementCount num_parameters;          // the model's exact (unpadded) count
  std::int64_t padded_vocab_size = 0;   // 0 for a bare parameter count
  std::optional<LayerActivations> layer_activations;  // the per-layer op table (layered models)
  unsigned activation_bytes = 2;        // compute dtype size of the activations
  std::vector<RankClass> classes;       // ordered by first rank
  std::size_t max_peak_class = 0;
  Bytes max_peak;
  std::optional<Bytes> gpu_memory;
  std::optional<bool> fits;
  std::optional<InferenceCapacity> inference_capacity;  // --inference with a GPU: the largest batch/context
};

EstimateResult estimate(const Scenario& scenario);

}  // namespace trainmem::sim
