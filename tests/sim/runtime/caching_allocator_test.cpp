// The caching allocator's rules (sim/runtime/caching_allocator.hpp) and the reserved range. Expected values
// are hand-derived from the constants of c10/cuda/CUDACachingAllocator.cpp (kMinBlockSize 512 B, kSmallSize
// 1 MiB, kSmallBuffer 2 MiB, kLargeBuffer 20 MiB, kMinLargeAlloc 10 MiB, kRoundLarge 2 MiB).
#include "sim/runtime/caching_allocator.hpp"

#include <gtest/gtest.h>

#include "partition/units.hpp"
#include "sim/runtime/runtime_memory.hpp"

namespace trainmem::sim {
namespace {

constexpr std::uint64_t MiB = 1ULL << 20;

TEST(CachingAllocator, BlockSizeRoundsTo512Bytes) {
  EXPECT_EQ(block_size(Bytes(0)).value, 512u);  // at least one 512 B block
  EXPECT_EQ(block_size(Bytes(1)).value, 512u);
  EXPECT_EQ(block_size(Bytes(512)).value, 512u);
  EXPECT_EQ(block_size(Bytes(513)).value, 1024u);
  // A 4096 x 11008 bf16 activation (90,177,536 B = 176,128 x 512) is already a whole number of blocks.
  EXPECT_EQ(block_size(Bytes(4096ULL * 11008 * 2)).value, 4096ULL * 11008 * 2);
}

TEST(CachingAllocator, SegmentSizePerPool) {
  EXPECT_EQ(segment_size(Bytes(1)).value, 2 * MiB);         // small pool: 2 MiB segments
  EXPECT_EQ(segment_size(Bytes(MiB)).value, 2 * MiB);       // 1 MiB is still small
  EXPECT_EQ(segment_size(Bytes(MiB + 1)).value, 20 * MiB);  // rounds to 1 MiB + 512: a 20 MiB segment
  EXPECT_EQ(segment_size(Bytes(10 * MiB - 512)).value, 20 * MiB);
  EXPECT_EQ(segment_size(Bytes(10 * MiB)).value, 10 * MiB);  // from 10 MiB: the request up to 2 MiB
  EXPECT_EQ(segment_size(Bytes(10 * MiB + 1)).value, 12 * MiB);
  // 2^60 B is a multiple of 2 MiB: no rounding, no overflow.
  EXPECT_EQ(segment_size(Bytes(1ULL << 60)).value, 1ULL << 60);
  // Near 2^64 the rounding overflows: the checked addition throws instead of wrapping.
  EXPECT_THROW(segment_size(Bytes(~0ULL - 10)), std::exception);
}

TEST(CachingAllocator, VariableLengthBound) {
  EXPECT_EQ(variable_length_fragmentation(Bytes(0)).value, 0u);  // nothing dynamic, nothing stranded
  // 1 B of dynamic bytes: one 2 MiB-rounded copy + the 20 MiB and 2 MiB segment tails = 24 MiB.
  EXPECT_EQ(variable_length_fragmentation(Bytes(1)).value, 24 * MiB);
  // 100 MiB (a multiple of 2 MiB): 100 + 20 + 2 = 122 MiB; 101 MiB rounds to 102: 124 MiB.
  EXPECT_EQ(variable_length_fragmentation(Bytes(100 * MiB)).value, 122 * MiB);
  EXPECT_EQ(variable_length_fragmentation(Bytes(101 * MiB)).value, 124 * MiB);
  // Five stranded copies (five increasing lengths): 5 x 102 + 22 = 532 MiB; none: 0.
  EXPECT_EQ(variable_length_fragmentation(Bytes(101 * MiB), 5).value, 532 * MiB);
  EXPECT_EQ(variable_length_fragmentation(Bytes(101 * MiB), 0).value, 0u);
  // 2^62 B x 4 copies overflows 64 bits: the checked multiplication throws.
  EXPECT_THROW(variable_length_fragmentation(Bytes(1ULL << 62), 4), std::exception);
}

TEST(CachingAllocator, RuntimeMemoryCarriesTheRange) {
  ParallelConfig p;
  // Dynamic 100 MiB: fixed-shape reserve 5% = 5 MiB; variable-length end 122 MiB (above).
  const RuntimeMemory r = runtime_memory(p, false, RuntimeConfig{}, {}, Bytes(100 * MiB));
  EXPECT_EQ(r.fragmentation.value, 5 * MiB);
  EXPECT_EQ(r.fragmentation_high.value, 122 * MiB);
  EXPECT_EQ(r.total().value, (512 + 32 + 5) * MiB);  // total keeps the fixed-shape reserve
  // The override allows at most 100% of the dynamic bytes, which stays below the bound (dynamic + 22 MiB):
  // allocator_fragmentation 1.0 moves the low end to 100 MiB and leaves the high end at 122 MiB.
  RuntimeConfig all;
  all.fragmentation_ppm = 1000000;
  const RuntimeMemory h = runtime_memory(p, false, all, {}, Bytes(100 * MiB));
  EXPECT_EQ(h.fragmentation.value, 100 * MiB);
  EXPECT_EQ(h.fragmentation_high.value, 122 * MiB);
  RuntimeConfig off;
  off.enabled = false;
  const RuntimeMemory o = runtime_memory(p, false, off, {}, Bytes(100 * MiB));
  EXPECT_EQ(o.fragmentation_high.value, 0u);  // --runtime off: no range
}

}  // namespace
}  // namespace trainmem::sim
