"""A CUDA memory snapshot (the pickle `torch.cuda.memory._dump_snapshot(path)` writes and PyTorch's
memory_viz reads) made from the lab's CPU measurement, so that `trainmem compare --measured` can be tested
without a GPU.

What it holds, and where each part comes from:

* `device_traces[0]`: the measured allocation stream of the window (measure.py: every allocation and free
  the profiler recorded from the window's start on, host-only step scalars left out), as the caching
  allocator records it with `_record_memory_history()`: `alloc` with the requested size (CUDA records
  `orig_size`, not the 512 B block), `free_requested` + `free_completed` with the same size, and a
  `segment_alloc` wherever the allocator emulator (allocator.py) had to cudaMalloc a new segment.
* `segments`: the emulator's segments at the end of the run, each with its blocks (`active_allocated` with
  their requested size, or `inactive`): the end state a real snapshot reports.  Allocations live before the
  window are in them, as in a real snapshot taken after recording started mid-run.

The stream is the one `measure._emulate_reserved` replays (setup allocations freed before the window
dropped), so the emulator's reserved peak in the lab's JSON is the reserved peak of this snapshot.  This
file writes the events; it computes no peak (trainmem's replay is checked against the lab's own figures).
"""

import pickle

import allocator


def build(stream, window_start):
    """stream: [(time, is_alloc, key, nbytes)] in order, a free naming its allocation's key."""
    a = allocator.CachingAllocator()
    live = {}
    trace = []
    for t, is_alloc, key, nbytes in stream:
        if is_alloc:
            before, seg_addr = a.reserved, a._next_addr
            handle = a.malloc(nbytes)
            block = a._blocks[handle[0]]
            live[key] = (handle, block.addr, nbytes)
            if t >= window_start:
                if a.reserved != before:
                    trace.append(_entry("segment_alloc", seg_addr, a.reserved - before))
                trace.append(_entry("alloc", block.addr, nbytes))
        else:
            handle, addr, nbytes = live.pop(key)
            a.free(handle)
            if t >= window_start:
                trace.append(_entry("free_requested", addr, nbytes))
                trace.append(_entry("free_completed", addr, nbytes))
    requested = {addr: n for (_, addr, n) in live.values()}
    return {"segments": _segments(a, requested), "device_traces": [trace],
            "allocator_settings": {"expandable_segments": False}}


def _entry(action, addr, size):
    return {"action": action, "addr": addr, "size": size, "stream": 0, "frames": []}


def _segments(a, requested):
    heads = [b for b in a._blocks.values() if b.prev is None]
    out = []
    for head in sorted(heads, key=lambda b: b.addr):
        blocks, b = [], head
        while b is not None:
            blocks.append({"address": b.addr, "size": b.size,
                           "requested_size": requested.get(b.addr, 0) if b.allocated else 0,
                           "state": "active_allocated" if b.allocated else "inactive", "frames": []})
            b = b.next
        total = sum(x["size"] for x in blocks)
        used = sum(x["size"] for x in blocks if x["state"] != "inactive")
        out.append({"device": 0, "address": head.addr, "total_size": total, "allocated_size": used,
                    "active_size": used, "requested_size": sum(x["requested_size"] for x in blocks),
                    "stream": 0, "segment_type": "small" if head.small else "large",
                    "segment_pool_id": (0, 0), "is_expandable": False, "frames": [], "blocks": blocks})
    return out


def write(stream, window_start, path):
    with open(path, "wb") as f:
        pickle.dump(build(stream, window_start), f, protocol=4)
