// DeepSpeed's offload rules for model states, one source for offload_memory() (estimate()'s labelled terms) and
// the planner's evaluator (sim/planner/): where each model-state term goes under ZeRO-Offload / ZeRO-Infinity, the
// optimizer shard, and the bytes DeepSpeed adds (fp32 gradient partition, staging and swap buffers). DeepSpeed
// stage_1_and_2.py (cpu_offload), stage3.py (offload_optimizer), partitioned_{param,optimizer}_swapper.py.
#pragma once

#include <algorithm>
#include <cstdint>

#include "partition/units.hpp"
#include "sim/accounting/memory_category.hpp"
#include "sim/offload/offload_config.hpp"

namespace trainmem::sim {

// Where a model-state term goes.
enum class StateTermFate {
  stays,           // on the GPU
  optimizer_tier,  // to the optimizer offload device (host or NVMe): fp32 master, optimizer states, fp32 grad copy
  host,            // to host RAM: ZeRO-3's gradient partition (grad_partitions_flat_buffer on the CPU)
  dropped,         // never allocated on the GPU: ZeRO-2 streams reduced gradients into the host fp32 partition
  param_tier,      // to the parameter offload device (ZeRO-3 parameter offload)
};

inline bool optimizer_shard_term(MemoryCategory category) {
  return category == MemoryCategory::master_params || category == MemoryCategory::optimizer_states;
}

inline StateTermFate state_term_fate(MemoryCategory category, bool fp32_grad_copy, int zero_stage,
                                     OffloadDevice optimizer, OffloadDevice param) {
  if (optimizer != OffloadDevice::none) {
    if (optimizer_shard_term(category) || fp32_grad_copy) return StateTermFate::optimizer_tier;
    if (category == MemoryCategory::grads && zero_stage == 2) return StateTermFate::dropped;
    if (category == MemoryCategory::grads && zero_stage == 3) return StateTermFate::host;
  }
  if (param != OffloadDevice::none && category == MemoryCategory::params) return StateTermFate::param_tier;
  return StateTermFate::stays;
}

// The bytes optimizer offload adds beside the moved terms (0 where DeepSpeed adds none). `shard`: elements of the
// optimizer shard (the first fp32 master or optimizer-state term).
struct OptimizerOffloadExtras {
  Bytes fp32_grad;     // optimizer tier: an fp32 gradient for the CPU optimizer when the recipe has no fp32 copy
  Bytes staging;       // host and (as much again) GPU: temp_grad_buffer_for_{cpu,gpu}_offload, ZeRO-1/2
  Bytes accumulated;   // host: accumulated_grads_in_cpu, ZeRO-1/2 with more than one microbatch
  Bytes swap_buffers;  // pinned host: the NVMe optimizer swapper's buffer_count fp32 sub-group buffers
};

inline OptimizerOffloadExtras optimizer_offload_extras(std::uint64_t shard, bool has_fp32_grad, int zero_stage,
                                                       std::int64_t num_microbatches,
                                                       std::uint64_t largest_param_elements, OffloadDevice optimizer,
                                                       std::uint64_t sub_group_size,
                                                       std::int64_t optimizer_buffer_count) {
  OptimizerOffloadExtras x;
  if (!has_fp32_grad && shard > 0) x.fp32_grad = Bytes(shard) * 4;
  if (zero_stage <= 2) {
    x.staging = Bytes(largest_param_elements) * 2;  // the model dtype
    if (num_microbatches > 1) x.accumulated = Bytes(shard) * 2;
  }
  if (optimizer == OffloadDevice::nvme)
    x.swap_buffers =
        Bytes(std::min<std::uint64_t>(sub_group_size, shard)) * 4 * static_cast<std::uint64_t>(optimizer_buffer_count);
  return x;
}

// The NVMe parameter swapper's pinned host buffers for a parameter term of `bytes` over `elements`.
inline Bytes param_swap_buffers(Bytes bytes, std::uint64_t elements, const OffloadConfig& config) {
  const std::uint64_t dtype = elements == 0 ? 2 : bytes.value / elements;
  return Bytes(config.param_buffer_size) * dtype * static_cast<std::uint64_t>(config.param_buffer_count);
}

}  // namespace trainmem::sim
