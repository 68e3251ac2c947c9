"""The caching-allocator emulator (tools/groundtruth/allocator.py) on hand-derived sequences.  Every expected
number is derived in the comment next to it from the rules in c10/cuda/CUDACachingAllocator.cpp
(kMinBlockSize 512 B, kSmallSize 1 MiB, kSmallBuffer 2 MiB, kLargeBuffer 20 MiB, kMinLargeAlloc 10 MiB,
kRoundLarge 2 MiB; split when the remainder is >= 512 B (small) / > 1 MiB (large)).  Pure Python, fast."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "groundtruth"))
import allocator  # noqa: E402
from allocator import CachingAllocator  # noqa: E402

MiB = 1 << 20


def test_round_size_and_segment_sizes():
    assert allocator.round_size(1) == 512
    assert allocator.round_size(512) == 512
    assert allocator.round_size(513) == 1024
    assert allocator.allocation_size(MiB) == 2 * MiB  # small pool: 2 MiB segment
    assert allocator.allocation_size(MiB + 512) == 20 * MiB  # 1-10 MiB: 20 MiB segment
    assert allocator.allocation_size(10 * MiB - 512) == 20 * MiB
    assert allocator.allocation_size(10 * MiB) == 10 * MiB  # >= 10 MiB: rounded to 2 MiB
    assert allocator.allocation_size(10 * MiB + 1) == 12 * MiB


def test_small_pool_packs_into_2mib_segments():
    a = CachingAllocator()
    # 4096 requests of 100 B: each rounds to 512 B; a 2 MiB segment holds 2 MiB / 512 B = 4096 of them.
    hs = [a.malloc(100) for _ in range(4096)]
    assert a.reserved == 2 * MiB and a.allocated == 2 * MiB
    a.malloc(1)  # the 4097th needs a second small segment
    assert a.reserved == 4 * MiB and a.segments == {True: 2, False: 0}
    for h in hs:
        a.free(h)
    assert a.allocated == 512 and a.reserved == 4 * MiB  # segments are kept (no empty_cache)


def test_large_request_below_10mib_takes_a_20mib_segment_and_splits():
    a = CachingAllocator()
    h = a.malloc(MiB + 1)  # rounds to 1 MiB + 512 B > 1 MiB: large pool, 20 MiB segment
    assert a.reserved == 20 * MiB
    # remainder 20 MiB - (1 MiB + 512) > 1 MiB: split; allocated counts the block (1 MiB + 512 B).
    assert a.allocated == MiB + 512
    # A second 1 MiB + 512 B request is carved from the same segment: reserved unchanged.
    a.malloc(MiB + 1)
    assert a.reserved == 20 * MiB and a.allocated == 2 * (MiB + 512)
    a.free(h)
    assert a.allocated == MiB + 512


def test_large_block_not_split_when_remainder_at_most_1mib():
    a = CachingAllocator()
    # 11 MiB: a new 12 MiB segment (rounded to 2 MiB); the remainder 1 MiB is not > 1 MiB, so the whole
    # 12 MiB block is handed out and memory_allocated counts 12 MiB.
    a.malloc(11 * MiB)
    assert a.reserved == 12 * MiB and a.allocated == 12 * MiB and a.requested == 11 * MiB


def test_fragmentation_hole_between_live_blocks():
    a = CachingAllocator()
    x = a.malloc(8 * MiB)  # 20 MiB segment: [x 8][free 12]
    y = a.malloc(8 * MiB)  # best fit is the free 12: [x 8][y 8][free 4]
    assert a.reserved == 20 * MiB
    a.free(x)  # [free 8][y 8][free 4]: 12 MiB free, but in two pieces
    z = a.malloc(12 * MiB)  # no free block >= 12 MiB: a new 12 MiB segment
    assert a.reserved == 32 * MiB
    assert a.allocated == 20 * MiB  # y 8 + z 12
    # Reserved over allocated at this point: 12 MiB, the two holes.
    a.free(y)  # y merges with both free neighbours: one free 20 MiB block again
    w = a.malloc(18 * MiB)  # fits the coalesced 20 MiB block (remainder 2 MiB > 1 MiB: split)
    assert a.reserved == 32 * MiB
    assert a.allocated == 30 * MiB
    a.free(z)
    a.free(w)
    assert a.allocated == 0 and a.peak_reserved == 32 * MiB


def test_best_fit_prefers_the_smallest_block():
    a = CachingAllocator()
    big = a.malloc(30 * MiB)  # a 30 MiB segment
    small = a.malloc(12 * MiB)  # a 12 MiB segment
    a.free(big)
    a.free(small)
    # 11 MiB: best fit is the 12 MiB block (remainder 1 MiB: not split), not the 30 MiB one.
    a.malloc(11 * MiB)
    assert a.allocated == 12 * MiB
    # 20 MiB: the 30 MiB block (remainder 10 MiB > 1 MiB: split into 20 + 10).
    a.malloc(20 * MiB)
    assert a.allocated == 32 * MiB and a.reserved == 42 * MiB


def test_growing_sequence_length_strands_segments():
    # The variable-length pattern: a step at 3 MiB activations, then one at 12 MiB.  Step 1's 20 MiB
    # segment is free when step 2 starts, and 12 MiB requests fit in it only once (20 - 12 = 8 left),
    # so the second 12 MiB request gets its own 12 MiB segment.
    a = CachingAllocator()
    hs = [a.malloc(3 * MiB) for _ in range(2)]  # one 20 MiB segment: [3][3][free 14]
    for h in hs:
        a.free(h)  # coalesced: [free 20]
    hs = [a.malloc(12 * MiB) for _ in range(2)]  # first: [12][free 8]; second: new 12 MiB segment
    assert a.reserved == 32 * MiB and a.allocated == 24 * MiB


def test_replay_peaks_from_the_window():
    ev = [(0, True, "a", 5 * MiB), (1, False, "a", 0), (2, True, "b", 100), (3, True, "c", 100)]
    s = allocator.replay(ev, window_start=2)
    # Before the window: 5 MiB allocated then freed (not in the window's peak); in it: 2 x 512 B.
    assert s["peak_allocated"] == 1024 and s["peak_requested"] == 1024
    assert s["peak_reserved"] == 20 * MiB + 2 * MiB
