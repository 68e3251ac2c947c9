// Non-model GPU memory of one rank (bytes), each part its own switchable category inside `runtime`: the
// CUDA context, NCCL communicator buffers (one communicator per parallel group of the layout: channels x
// connections x NCCL_BUFFSIZE), cuBLAS/attention workspaces, caching-allocator rounding (2 MiB segments) and
// a fragmentation reserve (a range: fixed shapes .. variable-length batches). Sources and calibration status:
// docs/runtime-memory.md.
#pragma once

#include <string>
#include <vector>

#include "partition/parallel_config.hpp"
#include "sim/accounting/memory_category.hpp"
#include "sim/runtime/caching_allocator.hpp"
#include "sim/runtime/runtime_config.hpp"

namespace trainmem::sim {

enum class CommPattern { ring, p2p, all_to_all };

// One NCCL communicator this rank belongs to.
struct Communicator {
  std::string group;      // "tp", "dp", "cp", "pp", "ep", "edp", "ulysses"
  std::int64_t size = 0;  // ranks in the group
  CommPattern pattern = CommPattern::ring;
  std::int64_t channels = 0;
  std::int64_t connections = 0;  // per channel: send + receive connections that hold a buffer
  Bytes bytes;                   // channels x connections x NCCL_BUFFSIZE
};

// The communicators of one rank of the layout (groups of size 1 have none). `moe` adds ep / edp.
std::vector<Communicator> communicators(const ParallelConfig& p, bool moe, const RuntimeConfig& config);

struct RuntimeMemory {
  Bytes cuda_context;
  Bytes nccl;
  Bytes workspaces;          // cuBLAS + attention workspace (allocated through the caching allocator)
  Bytes allocator_rounding;  // 2 MiB segment rounding of the persistent flat buffers
  Bytes fragmentation;       // reserve for fixed shapes: fragmentation_ppm of the dynamic bytes (in `reserved`)
  // The upper end of the reserved range, for variable-length batches: max(fragmentation,
  // variable_length_fragmentation(dynamic)) (sim/runtime/caching_allocator.hpp). Not part of total(): the
  // point figures (reserved, peak, fit) use the fixed-shape reserve; reports show reserved .. reserved_high.
  Bytes fragmentation_high;
  std::vector<Communicator> comms;
  Bytes total() const { return cuda_context + nccl + workspaces + allocator_rounding + fragmentation; }
};

// `persistent_buffers`: the sizes of the flat buffers allocated once (model states left on the GPU);
// `dynamic`: the bytes allocated and freed during the step (activations, buffers, temporaries).
RuntimeMemory runtime_memory(const ParallelConfig& p, bool moe, const RuntimeConfig& config,
                             const std::vector<Bytes>& persistent_buffers, Bytes dynamic);

// The caching allocator's rounding of large segments (PyTorch CUDACachingAllocator kRoundLarge, 2 MiB).
inline constexpr std::uint64_t kSegmentRounding = kRoundLarge;

// Bytes up to the next multiple of `unit` minus the bytes (0 when already aligned). Inline: the planner's evaluator
// rounds every model-state buffer of every candidate (a constant unit becomes a mask).
inline Bytes round_up_waste(Bytes bytes, std::uint64_t unit) {
  const std::uint64_t rem = bytes.value % unit;
  return Bytes(rem == 0 ? 0 : unit - rem);
}
// floor(bytes * ppm / 1e6) without overflow.
Bytes parts_per_million(Bytes bytes, std::uint64_t ppm);

}  // namespace trainmem::sim
