#include "sim/offload/offload_memory.hpp"

#include <algorithm>

#include "partition/error.hpp"
#include "sim/offload/offload_rules.hpp"

namespace trainmem::sim {
namespace {
constexpr std::string_view kFp32GradCopy = kFp32GradCopyName;
}  // namespace

void check_offload(const OffloadConfig& c, int zero_stage, bool full_recompute) {
  const std::string stage = "zero_stage is " + std::to_string(zero_stage);
  // DeepSpeed: parameter offload is a ZeRO-3 feature (DeepSpeedZeRoOffload lives in the stage-3 engine).
  if (c.param != OffloadDevice::none && zero_stage != 3)
    throw ConfigError("offload_param", std::string(offload_device_name(c.param)), "needs zero_stage 3 (" + stage + ")");
  // DeepSpeed refuses offload_optimizer without a ZeRO optimizer ("ZeRO-Offload requires ZeRO stage >= 1").
  if (c.optimizer != OffloadDevice::none && zero_stage < 1)
    throw ConfigError("offload_optimizer", std::string(offload_device_name(c.optimizer)),
                      "needs zero_stage 1, 2 or 3 (" + stage + ")");
  // The NVMe optimizer swapper (partitioned_optimizer_swapper.py) is only wired into the stage-3 optimizer.
  if (c.optimizer == OffloadDevice::nvme && zero_stage != 3)
    throw ConfigError("offload_optimizer", "nvme", "NVMe offload (ZeRO-Infinity) needs zero_stage 3 (" + stage + ")");
  if (c.activation_checkpoints && !full_recompute)
    throw ConfigError("offload_activation_checkpoints", "true",
                      "needs recompute_granularity full (only full-recompute checkpoints are offloaded)");
  if (c.optimizer_buffer_count < 1 || c.optimizer_buffer_count > 1024)
    throw ConfigError("offload_optimizer_buffer_count", std::to_string(c.optimizer_buffer_count),
                      "must be between 1 and 1024");
  if (c.param_buffer_count < 1 || c.param_buffer_count > 1024)
    throw ConfigError("offload_param_buffer_count", std::to_string(c.param_buffer_count), "must be between 1 and 1024");
}

OffloadMemory offload_memory(const ModelStateMemory& states, const OffloadConfig& c, const ZeroRuntimeConfig& zero,
                             const OffloadInputs& in) {
  OffloadMemory out;
  auto add = [&](std::string name, OffloadTarget target, bool pinned, Bytes bytes, std::string why) {
    if (bytes.value == 0) return;
    if (target == OffloadTarget::host) {
      out.host += bytes;
      if (pinned) out.host_pinned += bytes;
    } else if (target == OffloadTarget::nvme) {
      out.nvme += bytes;
    } else {
      out.gpu_staging += bytes;
    }
    out.terms.push_back({std::move(name), target, target == OffloadTarget::host && pinned, bytes, std::move(why)});
  };
  auto move = [&](const ModelStateTerm& t, OffloadTarget target, bool pinned, std::string why) {
    out.gpu_removed[t.category] += t.bytes;
    add(t.name, target, pinned, t.bytes, std::move(why));
  };

  auto fate = [&](const ModelStateTerm& t) {
    return state_term_fate(t.category, t.name == kFp32GradCopy, in.zero_stage, c.optimizer, c.param);
  };
  if (c.optimizer != OffloadDevice::none) {
    const OffloadTarget target = c.optimizer == OffloadDevice::nvme ? OffloadTarget::nvme : OffloadTarget::host;
    const bool pinned = c.pin_memory;
    // The optimizer shard: elements of the fp32 master (or, without one, the first optimizer moment).
    std::uint64_t shard = 0;
    bool has_fp32_grad = false;
    for (const auto& t : states.terms) {
      if (optimizer_shard_term(t.category) && shard == 0) shard = (t.dense_elements + t.expert_elements).value;
      switch (fate(t)) {
        case StateTermFate::optimizer_tier:
          if (optimizer_shard_term(t.category)) {
            move(t, target, pinned,
                 target == OffloadTarget::nvme
                     ? "ZeRO-Infinity swaps the fp32 partition and optimizer states to NVMe"
                     : "ZeRO-Offload: the fp32 partition and optimizer states live in host memory; "
                       "the CPU optimizer updates them");
          } else {
            has_fp32_grad = true;
            move(t, target, pinned,
                 target == OffloadTarget::nvme
                     ? "fp32 gradients are swapped out to NVMe with their sub-group (optimizer swapper "
                       "swap_out_gradients)"
                     : "the CPU optimizer reads fp32 gradients (single_partition_of_fp32_groups[i].grad)");
          }
          break;
        case StateTermFate::dropped:
          // stage_1_and_2.py with cpu_offload: reduced bucket slices are copied straight into the host fp32
          // gradient partition; grads_in_partition is never allocated on the GPU.
          out.gpu_removed[t.category] += t.bytes;
          break;
        case StateTermFate::host:
          // stage3.py: grad_partitions_flat_buffer is allocated on self.device, the CPU under offload_optimizer.
          move(t, OffloadTarget::host, pinned,
               "ZeRO-3 gradient partition buffer (grad_partitions_flat_buffer) on the host under offload_optimizer");
          break;
        default: break;
      }
    }
    const OptimizerOffloadExtras x =
        optimizer_offload_extras(shard, has_fp32_grad, in.zero_stage, in.num_microbatches, in.largest_param_elements,
                                 c.optimizer, zero.sub_group_size, c.optimizer_buffer_count);
    add("fp32 gradient partition (CPU optimizer input)", target, pinned, x.fp32_grad,
        "DeepSpeed keeps an fp32 gradient for the offloaded optimizer whatever the recipe's gradient dtype");
    add("temp_grad_buffer_for_cpu_offload", OffloadTarget::host, pinned, x.staging,
        "stage_1_and_2.py: host buffer of the largest parameter, model dtype");
    add("temp_grad_buffer_for_gpu_offload", OffloadTarget::gpu, false, x.staging,
        "stage_1_and_2.py: GPU buffer of the largest parameter, model dtype");
    add("accumulated_grads_in_cpu (gradient accumulation)", OffloadTarget::host, pinned, x.accumulated,
        "stage_1_and_2.py async_accumulate_grad_in_cpu_via_gpu keeps the partition's gradients in host memory "
        "between micro-steps");
    add("optimizer swap buffers", OffloadTarget::host, true, x.swap_buffers,
        "partitioned_optimizer_swapper.py: buffer_count pinned fp32 buffers of one sub-group for async NVMe I/O");
  }

  if (c.param != OffloadDevice::none) {
    const OffloadTarget target = c.param == OffloadDevice::nvme ? OffloadTarget::nvme : OffloadTarget::host;
    for (const auto& t : states.terms) {
      if (fate(t) != StateTermFate::param_tier) continue;
      move(t, target, c.pin_memory,
           target == OffloadTarget::nvme
               ? "ZeRO-Infinity: the parameter partition lives on NVMe and is swapped in per layer"
               : "ZeRO-Infinity: the parameter partition lives in host memory");
      if (target == OffloadTarget::nvme)
        add("parameter swap buffers", OffloadTarget::host, true,
            param_swap_buffers(t.bytes, (t.dense_elements + t.expert_elements).value, c),
            "partitioned_param_swapper.py: buffer_count pinned buffers of buffer_size elements");
    }
  }

  if (c.activation_checkpoints && in.activations != nullptr) {
    const StageActivations& a = *in.activations;
    const Bytes ckpt = a.checkpoint_bytes * static_cast<std::uint64_t>(a.checkpoints_per_chunk) *
                       static_cast<std::uint64_t>(a.inflight.chunk_forwards);
    out.gpu_removed[MemoryCategory::activations] += ckpt;
    add("activation checkpoints", OffloadTarget::host, false, ckpt,
        "DeepSpeed activation_checkpointing.cpu_checkpointing: each checkpointed layer input is copied to host "
        "memory after the forward and back for the recompute");
  }
  return out;
}

}  // namespace trainmem::sim
