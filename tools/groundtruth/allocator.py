"""An emulator of PyTorch's CUDA caching allocator (native backend, default settings), for replaying an
allocation stream and reading the bytes the allocator would reserve (torch.cuda.memory_reserved).

Written from the rules of c10/cuda/CUDACachingAllocator.cpp (PyTorch 2.x; the lab's torch is 2.15.0), not
from its code.  The rules, with the name each has in that file:

* round_size: every request is rounded up to a multiple of kMinBlockSize = 512 B (at least 512 B).
  (roundup_power2_divisions is off by default, so no power-of-two rounding.)
* get_pool: rounded sizes <= kSmallSize = 1 MiB go to the small pool, larger ones to the large pool.
* get_allocation_size: when no cached block fits, a new segment (cudaMalloc) is made of
  kSmallBuffer = 2 MiB for the small pool, kLargeBuffer = 20 MiB for large requests below
  kMinLargeAlloc = 10 MiB, and the request rounded up to kRoundLarge = 2 MiB otherwise.
* get_free_block: best fit: the free block of the pool with the smallest size >= the request, ties to
  the lowest address (the pool is a set ordered by (stream, size, address); one stream here).
  max_split_size is unlimited by default, so its oversize rules never apply.
* should_split: the found block is split when the remainder is >= 512 B (small pool) or > 1 MiB (large
  pool); the request takes the low part, the remainder stays free.  Otherwise the whole block is handed
  out (memory_allocated counts the block's size, not the request's).
* free_block / try_merge_blocks: a freed block merges with its free neighbours in the same segment.
* Segments are never returned (no empty_cache, no OOM retry: memory is unlimited here), so reserved bytes
  only grow and peak reserved = final reserved.

Not emulated: expandable_segments (PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True), several streams,
CUDA graph pools, max_split_size_mb, roundup_power2_divisions, garbage_collection_threshold.  New segments
get increasing addresses (cudaMalloc's real addresses only matter for ties between equal-size blocks).
"""

import bisect

MIN_BLOCK = 512  # kMinBlockSize
SMALL_SIZE = 1 << 20  # kSmallSize: largest "small" request, 1 MiB
SMALL_BUFFER = 2 << 20  # kSmallBuffer: small-pool segment, 2 MiB
LARGE_BUFFER = 20 << 20  # kLargeBuffer: segment for 1-10 MiB requests, 20 MiB
MIN_LARGE_ALLOC = 10 << 20  # kMinLargeAlloc: requests below this use a kLargeBuffer segment
ROUND_LARGE = 2 << 20  # kRoundLarge: larger segments are rounded up to 2 MiB


def round_size(n):
    """round_size(): multiple of 512 B, at least 512 B."""
    if n < MIN_BLOCK:
        return MIN_BLOCK
    return (n + MIN_BLOCK - 1) // MIN_BLOCK * MIN_BLOCK


def allocation_size(size):
    """get_allocation_size(): the segment cudaMalloc'ed for a (rounded) request that no cached block fits."""
    if size <= SMALL_SIZE:
        return SMALL_BUFFER
    if size < MIN_LARGE_ALLOC:
        return LARGE_BUFFER
    return (size + ROUND_LARGE - 1) // ROUND_LARGE * ROUND_LARGE


class _Block:
    __slots__ = ("addr", "size", "small", "allocated", "prev", "next")

    def __init__(self, addr, size, small):
        self.addr, self.size, self.small = addr, size, small
        self.allocated = False
        self.prev = self.next = None


class CachingAllocator:
    """malloc(n) -> handle; free(handle).  Counters: reserved, allocated (block sizes, as
    torch.cuda.memory_allocated), requested (the 512-rounded requests), and their peaks."""

    def __init__(self):
        self._free = {True: [], False: []}  # pool (small?) -> sorted [(size, addr, id)]
        self._blocks = {}  # id -> _Block (free or allocated)
        self._next_addr = 0
        self._next_id = 0
        self.reserved = self.allocated = self.requested = 0
        self.peak_reserved = self.peak_allocated = self.peak_requested = 0
        self.segments = {True: 0, False: 0}

    # -- free-list bookkeeping ---------------------------------------------------------------------
    def _insert_free(self, b):
        bisect.insort(self._free[b.small], (b.size, b.addr, id(b)))
        self._blocks[id(b)] = b

    def _remove_free(self, b):
        lst = self._free[b.small]
        i = bisect.bisect_left(lst, (b.size, b.addr, id(b)))
        assert lst[i][2] == id(b)
        del lst[i]

    # -- the allocator's operations ------------------------------------------------------------------
    def malloc(self, nbytes):
        size = round_size(nbytes)
        small = size <= SMALL_SIZE
        lst = self._free[small]
        i = bisect.bisect_left(lst, (size, -1, -1))
        if i < len(lst):  # get_free_block: best fit
            block = self._blocks[lst[i][2]]
            del lst[i]
        else:  # alloc_block: a new segment
            seg = allocation_size(size)
            block = _Block(self._next_addr, seg, small)
            self._blocks[id(block)] = block
            self._next_addr += seg + ROUND_LARGE  # distinct, increasing segment addresses
            self.reserved += seg
            self.segments[small] += 1
            self.peak_reserved = max(self.peak_reserved, self.reserved)
        remaining = block.size - size
        if (remaining >= MIN_BLOCK) if small else (remaining > SMALL_SIZE):  # should_split
            rest = _Block(block.addr + size, remaining, small)
            rest.prev, rest.next = block, block.next
            if block.next is not None:
                block.next.prev = rest
            block.next = rest
            block.size = size
            self._insert_free(rest)
        block.allocated = True
        self.allocated += block.size
        self.requested += size
        self.peak_allocated = max(self.peak_allocated, self.allocated)
        self.peak_requested = max(self.peak_requested, self.requested)
        return (id(block), size)

    def free(self, handle):
        bid, size = handle
        block = self._blocks[bid]
        assert block.allocated, "double free"
        block.allocated = False
        self.allocated -= block.size
        self.requested -= size
        for nb in (block.prev, block.next):  # try_merge_blocks with each free neighbour
            if nb is None or nb.allocated:
                continue
            self._remove_free(nb)
            del self._blocks[id(nb)]
            if nb is block.prev:
                block.addr = nb.addr
                block.prev = nb.prev
                if nb.prev is not None:
                    nb.prev.next = block
            else:
                block.next = nb.next
                if nb.next is not None:
                    nb.next.prev = block
            block.size += nb.size
        self._insert_free(block)

    def stats(self):
        return {"reserved": self.reserved, "peak_reserved": self.peak_reserved,
                "peak_allocated": self.peak_allocated, "peak_requested": self.peak_requested,
                "small_segments": self.segments[True], "large_segments": self.segments[False]}


def replay(events, window_start=None, marks=()):
    """Replay [(time, is_alloc, key, nbytes)] (in order; a free names the key of its allocation) and return
    the allocator's counters.  With window_start, the peaks of allocated/requested bytes are taken from that
    time on (reserved never shrinks, so its peak is the final value either way).  marks: ascending times;
    reserved_at_marks[k] is the reserved bytes just before the first event at or after marks[k]."""
    a = CachingAllocator()
    live = {}
    at_marks = []
    for t, is_alloc, key, nbytes in events:
        while len(at_marks) < len(marks) and t >= marks[len(at_marks)]:
            at_marks.append(a.reserved)
        if is_alloc:
            live[key] = a.malloc(nbytes)
        else:
            a.free(live.pop(key))
        if window_start is not None and t < window_start:
            a.peak_allocated = a.allocated
            a.peak_requested = a.requested
    s = a.stats()
    if marks:
        s["reserved_at_marks"] = at_marks + [a.reserved] * (len(marks) - len(at_marks))
    return s
