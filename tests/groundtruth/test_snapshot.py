"""tools/groundtruth/snapshot.py: the CUDA memory snapshot the lab writes from an allocation stream, on a
hand-derived stream (allocator rules as in test_allocator.py).  Pure Python, fast."""

import os
import pickle
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "groundtruth"))
import snapshot  # noqa: E402

MiB = 1 << 20


def test_window_trace_and_end_segments():
    # t=0: k1 1,000 B before the window -> a 2 MiB small segment at address 0, block [0, 1024).
    # t=6: k2 3 MiB -> a 20 MiB large segment (1-10 MiB requests); remainder 17 MiB > 1 MiB: split.
    #      The emulator places segments at increasing addresses: 2 MiB + kRoundLarge 2 MiB = 4 MiB.
    # t=7: k1 freed: merges back into the whole 2 MiB free block.
    # t=8: k3 100 B -> 512 B, best fit: the 2 MiB small block at 0, split (remainder >= 512 B).
    stream = [(0, True, "k1", 1000), (6, True, "k2", 3 * MiB), (7, False, "k1", 1000), (8, True, "k3", 100)]
    s = pickle.loads(pickle.dumps(snapshot.build(stream, window_start=5), protocol=4))
    trace = [(e["action"], e["addr"], e["size"]) for e in s["device_traces"][0]]
    assert trace == [("segment_alloc", 4 * MiB, 20 * MiB), ("alloc", 4 * MiB, 3 * MiB),
                     ("free_requested", 0, 1000), ("free_completed", 0, 1000), ("alloc", 0, 100)]
    segs = [(g["address"], g["total_size"], g["segment_type"],
             [(b["address"], b["size"], b["requested_size"], b["state"]) for b in g["blocks"]]) for g in s["segments"]]
    assert segs == [(0, 2 * MiB, "small", [(0, 512, 100, "active_allocated"), (512, 2 * MiB - 512, 0, "inactive")]),
                    (4 * MiB, 20 * MiB, "large", [(4 * MiB, 3 * MiB, 3 * MiB, "active_allocated"),
                                                  (7 * MiB, 17 * MiB, 0, "inactive")])]
    # What trainmem compare derives from it: live at the trace's start = end (3 MiB + 100) - allocs (3 MiB + 100)
    # + frees (1,000) = 1,000 B, the pre-window k1; reserved at the start = 22 MiB - 20 MiB = 2 MiB.
    end = sum(b["requested_size"] for g in s["segments"] for b in g["blocks"] if b["state"] != "inactive")
    assert end - (3 * MiB + 100) + 1000 == 1000
