// Non-model GPU memory settings: CUDA context, NCCL communicator buffers (channels x connections x
// NCCL_BUFFSIZE), library workspaces (cuBLAS, attention) and the PyTorch caching allocator (2 MiB segment
// rounding, fragmentation reserve). Bytes; defaults and their sources in docs/runtime-memory.md.
#pragma once

#include <cstdint>

#include "partition/units.hpp"

namespace trainmem::sim {

struct RuntimeConfig {
  bool enabled = true;                        // false: every runtime category is 0
  Bytes cuda_context = Bytes(512 * kMiB);     // per process, CUDA 12 lazy module loading (not GPU-calibrated)
  Bytes nccl_buffsize = Bytes(4 * kMiB);      // NCCL_BUFFSIZE default (NCCL environment variables docs)
  std::int64_t nccl_channels = 16;            // ring channels per collective communicator
  std::int64_t nccl_p2p_channels = 2;         // channels per peer for send/recv and all-to-all
  Bytes cublas_workspace = Bytes(32 * kMiB);  // PyTorch default on sm90 (CUBLAS_WORKSPACE_CONFIG :4096:8)
  Bytes attention_workspace = Bytes(0);       // extra attention-kernel workspace, default none
  bool allocator_rounding = true;             // 2 MiB segment rounding of the persistent flat buffers
  std::uint64_t fragmentation_ppm = 50000;    // reserve, parts per million of the dynamic bytes (5%)
};

}  // namespace trainmem::sim
