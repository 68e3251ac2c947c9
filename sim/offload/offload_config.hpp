// Offload settings (DeepSpeed ds_config names): ZeRO-Offload of the optimizer (offload_optimizer.device),
// ZeRO-Infinity parameter offload (offload_param.device, stage 3) and activation-checkpoint offload
// (activation_checkpointing.cpu_checkpointing). Defaults are DeepSpeed's (deepspeed/runtime/zero/offload_config.py).
#pragma once

#include <cstdint>
#include <string_view>

namespace trainmem::sim {

enum class OffloadDevice { none, cpu, nvme };

constexpr std::string_view offload_device_name(OffloadDevice d) {
  return d == OffloadDevice::cpu ? "cpu" : d == OffloadDevice::nvme ? "nvme" : "none";
}

struct OffloadConfig {
  OffloadDevice optimizer = OffloadDevice::none;  // fp32 master + optimizer states (+ fp32 gradients)
  OffloadDevice param = OffloadDevice::none;      // the bf16/fp16 parameter partition (ZeRO-3 only)
  bool activation_checkpoints = false;            // full-recompute checkpoints kept in host memory
  bool pin_memory = false;                        // offload_{optimizer,param}.pin_memory (DeepSpeed default false)
  std::int64_t optimizer_buffer_count = 4;        // offload_optimizer.buffer_count: NVMe swap buffers (sub-groups)
  std::int64_t param_buffer_count = 5;            // offload_param.buffer_count: NVMe parameter swap buffers
  std::uint64_t param_buffer_size = 100000000;    // offload_param.buffer_size, elements per swap buffer
  bool any() const {
    return optimizer != OffloadDevice::none || param != OffloadDevice::none || activation_checkpoints;
  }
};

}  // namespace trainmem::sim
