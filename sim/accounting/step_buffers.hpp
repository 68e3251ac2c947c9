// The buffers a training step holds beyond the model states and the saved activations, written once: estimate()
// adds them at its stated schedule points, simulate() replays them with their lifetimes and the planner's evaluator
// calls the same arithmetic (sim/planner/planner_evaluate.cpp). The megatron-path terms (the hf profile has its own
// DDP bucket and FSDP gathers, sim/accounting/framework_profile.hpp):
//   - PyTorch DDP gradient buckets (zero_stage 0 with data parallelism, outside Megatron's main_grad buffers):
//     one more copy of the gradients unless ddp_gradient_as_bucket_view (torch/csrc/distributed/c10d/reducer.cpp);
//   - DeepSpeed's gradient (IPG) bucket buffers of ZeRO-2/3 with contiguous_gradients: reduce_bucket_size
//     elements in the model's parameter dtype, two under ZeRO-2 with overlap_comm (stage_1_and_2.py ipg_buffer,
//     stage3.py __ipg_bucket_flat_buffer);
//   - ZeRO-3: the parameters under stage3_param_persistence_threshold kept whole on every rank, the layer's
//     all-gathered parameters plus the prefetch bucket (capped by stage3_max_live_parameters) while it runs, and
//     its full-size gradients before the reduce-scatter in backward (stage3.py, partitioned_param_coordinator.py);
//   - the activation gradients of one layer's backward and the pipeline's p2p send buffer.
// Bytes per rank.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "partition/units.hpp"
#include "sim/accounting/activation_memory.hpp"
#include "sim/accounting/memory_category.hpp"
#include "sim/accounting/scenario.hpp"
#include "sim/engine/zero_runtime.hpp"

namespace trainmem::sim {

// Plain numbers (no strings, no allocation), so that the planner's hot path can fill it per layout.
struct StepBufferShape {
  int zero_stage = 0;
  std::int64_t dp = 1, cp = 1, pp = 1;
  bool megatron_grad_buffers = false;  // Megatron's DDP: buckets are views of the main_grad buffer (no copy)
  unsigned param_bytes = 2;            // the model's parameter dtype: DeepSpeed's bucket element size
  Bytes grads;                         // the rank's gradient bytes (the DDP bucket copies them)
  // ZeRO-3, one layer of this stage at the TP/EP split: elements of tensors at or above the persistence threshold
  // (partitioned and gathered) and below it (kept whole).
  std::uint64_t layer_partitioned = 0, layer_persistent = 0;
  std::int64_t stage_layers = 0;  // layers on this stage (all chunks)
  bool offload_param = false;     // ZeRO-3 offload_param: the partition lives off the GPU
  // One layer's activation shapes: tokens of the replicated and TP regions, hidden and widest MLP width (already
  // divided by tp, doubled for a gated MLP), the activation dtype.
  std::uint64_t tokens_replicated = 0, tokens_tp = 0, hidden = 0, mlp_width = 0;
  unsigned act_bytes = 2;
};

struct StepBuffers {
  Bytes ddp_bucket;   // buffers, the whole step
  Bytes ipg_buckets;  // buffers, the whole step
  std::uint64_t ipg_count = 0;
  Bytes zero3_persistent;    // params, the whole step (whole small tensors, every layer of the stage)
  Bytes layer_gather;        // buffers, while one layer runs (forward and backward)
  Bytes layer_gather_grads;  // temporaries, one layer's backward
  Bytes backward_transient;  // temporaries, one layer's backward (activation gradients)
  Bytes p2p_send;            // buffers, between two schedule ops (pp > 1)
  Bytes persistent() const { return ddp_bucket + ipg_buckets; }
};

// The shape of a stage of `stage_layers` layers of the resolved scenario (estimate() and simulate()); `grads` are
// the rank's gradient bytes without the recipe's fp32 gradient copy (that lives in the optimizer step). `layer` is
// null for a bare parameter count (no layers: only the whole-step buckets).
StepBufferShape step_buffer_shape(const ResolvedScenario& resolved, const LayerActivations* layer, Bytes grads,
                                  std::int64_t stage_layers);
// ZeRO-3: one layer's elements at the split, those partitioned (>= threshold) and those kept whole (below it).
void zero3_layer_split(const ModelSpec& model, const TensorSplit& split, std::uint64_t persistence_threshold,
                       std::uint64_t& partitioned, std::uint64_t& persistent);
// Megatron's main_grad buffers (recipe mixed-18 / megatron): its DDP buckets are views, no gradient copy.
bool megatron_grad_buffers(const Recipe& recipe);

// Allocation-free; overflow-checked. step_buffers() = both parts below; the planner calls the activation-shaped
// part once per layer piece and the model-state part per candidate (the same arithmetic, split by what it reads).
StepBuffers step_buffers(const StepBufferShape& shape, const ZeroRuntimeConfig& zero);
// DDP / IPG buckets and the ZeRO-3 terms: zero_stage, dp, cp, the recipe, grads, the layer split, stage_layers.
void add_state_buffers(const StepBufferShape& shape, const ZeroRuntimeConfig& zero, StepBuffers& out);
// Activation gradients and the p2p send buffer: the layer's shapes and pp only.
void add_activation_buffers(const StepBufferShape& shape, StepBuffers& out);

// The recipe's fp32 gradient copy (mixed-20) exists only in the optimizer step: DeepSpeed sets
// single_partition_of_fp32_groups[i].grad (ZeRO-1/2: the whole `copy_bytes`) or the sub-group's fp32 grad (ZeRO-3:
// sub_group_size of the rank's `copy_elements` at a time) there and releases it after the update. simulate() replays
// it as the optimizer step's transient; the planner's lower bound of that replay takes the same bytes. Inline: the
// planner's evaluator calls it per stage of every candidate.
inline Bytes fp32_grad_copy_step_transient(Bytes copy_bytes, std::uint64_t copy_elements, int zero_stage,
                                           std::uint64_t sub_group_size) {
  return zero_stage == 3 ? Bytes(std::min(copy_elements, sub_group_size)) * 4 : copy_bytes;
}

// The same terms labelled for --explain and JSON: name, category, when it is alive, formula with numbers, source.
struct BufferTerm {
  std::string name;
  MemoryCategory category = MemoryCategory::buffers;
  std::string lifetime;  // "whole step", "while a layer runs", ...
  std::string formula;
  std::string source;
  Bytes bytes;
};
std::vector<BufferTerm> step_buffer_terms(const StepBufferShape& shape, const ZeroRuntimeConfig& zero);

}  // namespace trainmem::sim
