// PyTorch's CUDA caching allocator (c10/cuda/CUDACachingAllocator.cpp, native backend, default settings):
// its size constants and the rules trainmem uses for `reserved` (torch.cuda.memory_reserved). The same rules
// are emulated block by block in tools/groundtruth/allocator.py, which replays the lab's exact allocation
// streams (tools/groundtruth/results/reserved.json); docs/runtime-memory.md, "Reserved vs allocated".
#pragma once

#include <cstdint>

#include "partition/units.hpp"

namespace trainmem::sim {

// CUDACachingAllocator.cpp constants (same names there).
inline constexpr std::uint64_t kMinBlockSize = 512;           // every request rounds up to 512 B
inline constexpr std::uint64_t kSmallSize = 1ULL << 20;       // largest small-pool request, 1 MiB
inline constexpr std::uint64_t kSmallBuffer = 2ULL << 20;     // small-pool segment, 2 MiB
inline constexpr std::uint64_t kLargeBuffer = 20ULL << 20;    // segment for 1-10 MiB requests, 20 MiB
inline constexpr std::uint64_t kMinLargeAlloc = 10ULL << 20;  // from here segments are the request
inline constexpr std::uint64_t kRoundLarge = 2ULL << 20;      // ... rounded up to 2 MiB

// round_size(): the block a request occupies (a multiple of 512 B, at least 512 B).
Bytes block_size(Bytes request);
// get_allocation_size(): the segment cudaMalloc'ed for a request no cached block fits.
Bytes segment_size(Bytes request);

// The upper end of the fragmentation range for variable-length batches (sequence length or batch changing
// between steps). Method: a step whose shapes differ from the last step's can find no cached block that fits
// its requests, so the allocator adds segments while the old ones stay cached (no empty_cache). The bound
// lets `stranded` whole copies of the step's dynamic bytes (activations + buffers + temporaries) be stranded
// this way, in segments rounded to kRoundLarge, plus the unused tail of one kLargeBuffer and one kSmallBuffer
// segment. trainmem uses stranded = 1; the lab's shuffled, shrinking and doubling length orders stay inside
// it. Slowly increasing lengths strand one copy per distinct length (measured: lengths 1024, 1280, 1536, 1792,
// 2048 reserved 3.7x the allocated peak), which needs stranded = the number of lengths (docs/runtime-memory.md,
// "Reserved vs allocated"). Not a theorem: best fit has no useful worst case. 0 when dynamic is 0.
Bytes variable_length_fragmentation(Bytes dynamic, std::uint64_t stranded = 1);

}  // namespace trainmem::sim
