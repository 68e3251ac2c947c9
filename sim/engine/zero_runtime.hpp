// DeepSpeed ZeRO runtime knobs that size buffers beyond the model states (DeepSpeed config names and
// defaults, deepspeed/runtime/zero/config.py): the gradient bucket (IPG) buffers of ZeRO-2/3, the ZeRO-3
// parameter gathers (prefetch bucket, max live parameters, persistence threshold) and the optimizer-step
// sub-groups. Counts are elements, as in DeepSpeed.
#pragma once

#include <cstdint>

namespace trainmem::sim {

struct ZeroRuntimeConfig {
  std::uint64_t reduce_bucket_size = 500000000;           // elements per gradient bucket
  bool overlap_comm = false;                              // ZeRO-2: a second bucket; DeepSpeed turns it on for ZeRO-3
  bool contiguous_gradients = true;                       // ZeRO-2/3 copy gradients into the flat bucket buffer
  std::uint64_t stage3_prefetch_bucket_size = 50000000;   // elements gathered ahead of use
  std::uint64_t stage3_max_live_parameters = 1000000000;  // gathered elements alive at once (upper bound)
  std::uint64_t stage3_param_persistence_threshold = 100000;  // tensors smaller than this are never partitioned
  std::uint64_t sub_group_size = 1000000000;                  // ZeRO-3 optimizer step granularity
  // PyTorch DDP (zero_stage 0 outside Megatron): the Reducer allocates flat bucket tensors for every
  // gradient at construction (bucket_cap_mb only sets their granularity), so without
  // gradient_as_bucket_view the gradients exist twice (torch/csrc/distributed/c10d/reducer.cpp).
  bool ddp_gradient_as_bucket_view = false;
};

}  // namespace trainmem::sim
