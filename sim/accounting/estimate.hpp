// estimate(): the analytic per-rank memory of a scenario. Every rank of the grid is evaluated; ranks
// with identical numbers are grouped into one RankClass with their rank list. Model states and activations
// (op-level, docs/activations.md; recompute/loss transients in temporaries); offload moves model states and
// checkpoints to host/NVMe (docs/offload.md); runtime is the non-model memory (docs/runtime-memory.md).
// Buffers (DDP / DeepSpeed buckets, ZeRO-3 gathers, activation gradients, p2p: sim/accounting/step_buffers.hpp) are
// added at the stage's peak point (sim/accounting/stage_peak.hpp), the same terms `simulate` replays.
// With scenario.inference.enabled: serving memory (docs/inference.md); with scenario.lora: LoRA/QLoRA (docs/lora.md).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "partition/layer_assignment.hpp"
#include "partition/rank_grid.hpp"
#include "partition/shard_plan.hpp"
#include "sim/accounting/activation_memory.hpp"
#include "sim/accounting/framework_profile.hpp"
#include "sim/accounting/model_state_memory.hpp"
#include "sim/accounting/scenario.hpp"
#include "sim/accounting/stage_activations.hpp"
#include "sim/accounting/stage_peak.hpp"
#include "sim/accounting/step_buffers.hpp"
#include "sim/finetune/lora_memory.hpp"
#include "sim/offload/offload_memory.hpp"
#include "sim/runtime/runtime_memory.hpp"
#include "sim/serving/inference_memory.hpp"

namespace trainmem::sim {

struct RankClass {
  std::vector<std::int64_t> ranks;     // ascending global ranks
  std::vector<std::int64_t> pp_ranks;  // the pipeline stages these ranks are on (ascending)
  RankCoords coords;                   // of the first rank
  std::int64_t num_layers = 0;         // transformer layers held (0 for a bare parameter count)
  RankParamShard shard;
  ModelStateMemory model_states;
  std::optional<StageActivations> activations;  // absent for a bare parameter count
  OffloadMemory offload;                        // what left the GPU and where it went (host RAM, NVMe)
  RuntimeMemory runtime;                        // the parts of bytes[runtime]
  std::optional<InferenceRank> inference;       // --inference: weights, KV cache, workspace
  std::optional<LoraRank> lora;                 // LoRA/QLoRA: frozen base and adapters
  Bytes lora_activations;                       // adapters' r-wide saved tensors (inside bytes.activations)
  std::optional<FrameworkStep> framework_step;  // --framework hf: the step's points; bytes = its peak point
  // Megatron path (no framework_step, no inference): the step's buffers and the stage point bytes come from.
  std::optional<StepBufferShape> buffer_shape;
  StepBuffers buffers;
  std::string_view peak_point;       // stage_peak()'s point: "forward", "loss", "backward", "p2p" ("" when none)
  MemoryBreakdown bytes;             // GPU bytes per category (offloaded states excluded)
  Bytes kv_cache;                    // inference only (JSON bytes.kv_cache); 0 for training
  Bytes peak;                        // device total: bytes.total() + kv_cache = reserved + CUDA context + NCCL
  Bytes allocated;                   // through the caching allocator: every category but runtime, + workspaces
  Bytes reserved;                    // allocated + allocator rounding + fragmentation reserve
  std::optional<Bytes> safe_budget;  // gpu_memory - runtime: room left for model states, activations, buffers
};

// The largest total any one node needs (nodes hold gpus_per_node consecutive ranks; each figure is the
// maximum over the nodes, so they may come from different nodes when the stages differ).
struct NodeTotals {
  std::int64_t gpus_per_node = 8;
  std::int64_t num_nodes = 1;
  Bytes gpu;          // sum of the ranks' peaks
  Bytes host;         // offloaded states, staging buffers and checkpoints in host RAM
  Bytes host_pinned;  // the page-locked part of host
  Bytes nvme;
};

struct EstimateResult {
  ResolvedScenario resolved;
  std::int64_t world_size = 0;
  ElementCount num_parameters;                        // the model's exact (unpadded) count
  std::int64_t padded_vocab_size = 0;                 // 0 for a bare parameter count
  std::optional<LayerActivations> layer_activations;  // the per-layer op table (layered models)
  unsigned activation_bytes = 2;                      // compute dtype size of the activations
  std::vector<RankClass> classes;                     // ordered by first rank
  std::size_t max_peak_class = 0;
  Bytes max_peak;
  std::optional<Bytes> gpu_memory;
  std::optional<bool> fits;
  NodeTotals per_node;
  std::optional<InferenceCapacity> inference_capacity;  // --inference with a GPU: the largest batch/context
  std::string vllm_not_sized;        // why vLLM's sizing was left out (a sliding-window model), "" otherwise
  std::optional<VllmKvSizing> vllm;  // --inference with a GPU and paged blocks: vLLM's KV cache sizing
};

// The largest parameter tensor one rank holds (the vocab-parallel embedding shard or a layer's widest
// matrix); 0 for a bare parameter count. DeepSpeed sizes its offload staging buffers by it.
std::uint64_t largest_parameter_elements(const ModelSpec& model, const ParallelConfig& p, std::int64_t padded_vocab);

// GPU categories, offload and runtime of one rank class from its model states and activations: the pure
// arithmetic estimate() runs per pipeline stage (the planner calls it per layout).
void finish_rank_class(RankClass& c, const ResolvedScenario& resolved, std::uint64_t largest_param_elements);

EstimateResult estimate(const Scenario& scenario);

}  // namespace trainmem::sim
