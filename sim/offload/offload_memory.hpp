// Offloaded memory of one rank (bytes): which model-state terms leave the GPU under ZeRO-Offload /
// ZeRO-Infinity and activation-checkpoint offload, and the host RAM (pinned or pageable) and NVMe bytes
// they take, plus DeepSpeed's staging buffers. Follows DeepSpeed stage_1_and_2.py (cpu_offload),
// stage3.py (offload_optimizer, grad_partitions_flat_buffer), partitioned_{param,optimizer}_swapper.py.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sim/accounting/memory_category.hpp"
#include "sim/accounting/model_state_memory.hpp"
#include "sim/accounting/stage_activations.hpp"
#include "sim/engine/zero_runtime.hpp"
#include "sim/offload/offload_config.hpp"

namespace trainmem::sim {

enum class OffloadTarget { host, nvme, gpu };

// The recipe tensor offload_memory() moves by name (sim/accounting/recipe.cpp's DeepSpeed fp32 gradient copy).
inline constexpr std::string_view kFp32GradCopyName = "fp32 gradient copy";

struct OffloadTerm {
  std::string name;
  OffloadTarget target = OffloadTarget::host;
  bool pinned = false;  // host only: page-locked (cudaHostAlloc), never swapped
  Bytes bytes;
  std::string why;
};

struct OffloadMemory {
  MemoryBreakdown gpu_removed;     // bytes per GPU category that no longer live on the GPU
  std::vector<OffloadTerm> terms;  // where every offloaded or added byte goes
  Bytes host;                      // host RAM of this rank (pinned + pageable)
  Bytes host_pinned;
  Bytes nvme;
  Bytes gpu_staging;  // GPU-side staging buffer (ZeRO-1/2 temp_grad_buffer_for_gpu_offload)
};

struct OffloadInputs {
  int zero_stage = 0;
  std::int64_t num_microbatches = 1;              // > 1: ZeRO-1/2 offload accumulates gradients in host memory
  std::uint64_t largest_param_elements = 0;       // the largest parameter tensor on this rank (staging buffers)
  const StageActivations* activations = nullptr;  // for activation-checkpoint offload; may be null
};

// Throws ConfigError for combinations DeepSpeed refuses: offload_param without zero_stage 3,
// offload_optimizer at zero_stage 0, NVMe optimizer offload below stage 3, checkpoint offload without full
// recompute (`full_recompute`).
void check_offload(const OffloadConfig& config, int zero_stage, bool full_recompute);

OffloadMemory offload_memory(const ModelStateMemory& states, const OffloadConfig& config, const ZeroRuntimeConfig& zero,
                             const OffloadInputs& in);

}  // namespace trainmem::sim
