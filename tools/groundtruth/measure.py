"""Exact allocation-level measurement of a training step on CPU (and the CUDA counters on a GPU).

Method (CPU): torch.profiler with profile_memory=True records every allocation and free made through
c10's CPU allocator, with its pointer, size and the allocator's running total.  We replay the events
in time order and check at EVERY event that our running sum equals the allocator's total (the
self-consistency check; a single mismatch raises).  The replay's maximum is the analogue of
torch.cuda.max_memory_allocated; a second replay rounds every block up to 512 bytes the way the CUDA
caching allocator does (kMinBlockSize = 512) and its maximum is what we report as the peak.

Classification: Python code marks points of the run with torch.profiler.record_function ranges that
land in the same event stream ("gt:phase:<name>" for phases, "gt:obs:<n>" for observations).  An
observation says "at this instant the storage at pointer P holds a <category> tensor" (parameters,
buffers, inputs, gradients, optimizer states, master params, saved activations via
saved_tensors_hooks).  An allocation live at the peak is given the category of any observation of
its pointer made while the allocation was alive (pointer + lifetime identifies it uniquely);
allocations never observed are temporaries, reported by the operator that allocated them.

Unrecorded frees: the profiler sees only threads that carry its thread-local state.  A tensor
whose last reference is dropped on another thread (gloo's worker threads: see gloo_sync.py) is freed
without an event, and c10's CPU reporter then leaves it in its running total as well, so the
self-consistency check above cannot notice.  malloc handing the same address out again while the
replay still has it live can: `check.unrecorded_frees` counts those (an unrecorded free whose address
is not handed out again goes unnoticed, so 0 is necessary, not sufficient).

Host-only tensors: PyTorch's for-loop / foreach optimizers keep state['step'] on the host even for
CUDA parameters, so those are observed as category "host" and left out of the emulated-CUDA totals.
"""

import bisect
import collections
import contextlib

import torch
from torch.profiler import ProfilerActivity, profile, record_function

CATEGORIES = ["params", "master_params", "grads", "optimizer_states", "buffers", "inputs", "activations",
              "temporaries"]
# An allocation observed under several categories gets the first in this order (a parameter that is
# also saved for backward is a parameter).
PRIORITY = ["host", "params", "master_params", "buffers", "optimizer_states", "grads", "inputs", "activations"]
CUDA_BLOCK = 512


def round_block(n):
    return 0 if n <= 0 else ((n + CUDA_BLOCK - 1) // CUDA_BLOCK) * CUDA_BLOCK


def storage_of(t):
    st = t.untyped_storage()
    return st.data_ptr(), st.nbytes()


class Recorder:
    """Marks phases and observations inside a profiled region."""

    def __init__(self):
        self.observations = []  # (category, label, ptr)

    def phase(self, name):
        with record_function("gt:phase:" + name):
            pass

    def observe(self, category, tensors, label=""):
        items = []
        for t in tensors:
            if t is None or not isinstance(t, torch.Tensor) or t.device.type not in ("cpu", "cuda"):
                continue
            if hasattr(t, "to_local"):  # DTensor (FSDP2): the local shard is what this rank holds
                t = t.to_local()
            ptr, nbytes = storage_of(t)
            if nbytes > 0 and ptr:
                items.append(ptr)
        if not items:
            return
        idx = len(self.observations)
        self.observations.append((category, label, items))
        with record_function("gt:obs:%d" % idx):
            pass

    @contextlib.contextmanager
    def saved_tensors(self, label="saved"):
        """Observe every tensor autograd saves for backward as an activation."""

        def pack(t):
            self.observe("activations", [t], label)
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield


@contextlib.contextmanager
def profiled():
    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=False,
                   with_stack=False)
    prof.start()
    try:
        yield prof
    finally:
        prof.stop()


def _events(prof, device="cpu"):
    """Flatten the event tree into allocation events and marker events, in time order."""
    from torch._C._profiler import _EventType

    allocs, marks = [], []
    stack = list(reversed(prof.profiler.kineto_results.experimental_event_tree()))
    seq = 0
    while stack:
        e = stack.pop()
        seq += 1
        kind = e.typed[0]
        if kind == _EventType.Allocation:
            f = e.typed[1]
            if f.device.type != device or f.alloc_size == 0:
                continue
            op, p = [], e.parent
            while p is not None:
                op.append(p.name)
                p = p.parent
            allocs.append((e.start_time_ns, seq, f.ptr, f.alloc_size, f.total_allocated, op))
        elif kind == _EventType.TorchOp and e.name.startswith("gt:"):
            marks.append((e.start_time_ns, e.name))
        stack.extend(reversed(e.children))
    # Time order; events stamped with the same ns keep their pre-order position in the tree.
    allocs.sort(key=lambda a: (a[0], a[1]))
    marks.sort()
    return [(a[0], a[2], a[3], a[4], a[5]) for a in allocs], marks


def _op_name(op):
    """Innermost aten op plus the outermost op (e.g. the autograd node) that called it."""
    if not op:
        return "(python)"
    inner = op[0]
    outer = op[-1]
    if outer.startswith("autograd::engine::evaluate_function: "):
        outer = outer[len("autograd::engine::evaluate_function: "):]
    if outer.startswith("gt:"):
        return inner
    return inner if inner == outer else "%s < %s" % (inner, outer)


def phase_order(name):
    kind, _, tag = name.partition(":")
    nums = [int(x) for x in tag.split(".") if x.isdigit()]
    step = nums[0] if nums else 0
    micro = nums[1] if len(nums) > 1 else 99
    return (step, micro, ["forward", "loss", "backward", "optimizer"].index(kind)
            if kind in ("forward", "loss", "backward", "optimizer") else 9, name)


def analyse(prof, rec, window_start="steps", detail=False, device="cpu", emulate_reserved=False, snapshot=None):
    """Replay the events; return the peak, its phase and what is live at it by category.  With
    emulate_reserved, also replay the same stream through the caching-allocator emulator (reserved_emulated);
    with snapshot=PATH, also write that stream as a CUDA memory snapshot pickle (snapshot.py)."""
    allocs, marks = _events(prof, device)
    # ---- pass 1: exact self-consistency, and lifetimes --------------------------------------------
    live = {}
    running = 0
    base = None
    mismatches = 0
    unknown_frees = 0
    lifetimes = []  # index -> [t_alloc, t_free, ptr, size, op]
    open_by_ptr = {}
    reused_live = 0  # an allocation at an address still live: its earlier free was not recorded
    for i, (t, ptr, size, total, op) in enumerate(allocs):
        if size > 0:
            if base is None:
                base = total - size
            if ptr in live:
                reused_live += 1
            running += size
            live[ptr] = size
            open_by_ptr[ptr] = len(lifetimes)
            lifetimes.append([t, None, ptr, size, op, i, None])
        else:
            if ptr not in live:
                unknown_frees += 1  # allocated before profiling started
                if base is not None:
                    base += size
                continue
            running -= live.pop(ptr)
            lt = lifetimes[open_by_ptr.pop(ptr)]
            lt[1], lt[6] = t, i
        if base is not None and running + base != total:
            mismatches += 1
    # ---- markers --------------------------------------------------------------------------------
    phases = [(t, n[len("gt:phase:"):]) for t, n in marks if n.startswith("gt:phase:")]
    obs_by_ptr = collections.defaultdict(list)
    for t, n in marks:
        if n.startswith("gt:obs:"):
            category, label, ptrs = rec.observations[int(n[len("gt:obs:"):])]
            for p in ptrs:
                obs_by_ptr[p].append((t, category, label))
    start_t = next((t for t, n in phases if n == window_start), None)
    if start_t is None:
        raise RuntimeError("no gt:phase:%s marker" % window_start)

    def category_of(lt):
        t0, t1, ptr = lt[0], lt[1], lt[2]
        cats = [c for (t, c, _) in obs_by_ptr.get(ptr, ()) if t0 <= t and (t1 is None or t < t1)]
        for c in PRIORITY:
            if c in cats:
                return c
        return "temporaries"

    cats = [category_of(lt) for lt in lifetimes]
    # ---- pass 2: emulated-CUDA totals (512-byte blocks, host tensors left out) --------------------
    events = []
    for i, lt in enumerate(lifetimes):
        if cats[i] == "host":
            continue
        events.append((lt[5], lt[0], 1, i))
        if lt[1] is not None:
            events.append((lt[6], lt[1], 0, i))
    events.sort()
    cur = cur_raw = 0
    peak = peak_raw = -1
    peak_t = None
    live_idx = set()
    for _, t, kind, i in events:
        sz = lifetimes[i][3]
        if kind == 1:
            cur += round_block(sz)
            cur_raw += sz
            live_idx.add(i)
        else:
            cur -= round_block(sz)
            cur_raw -= sz
            live_idx.discard(i)
        if t >= start_t:
            if cur > peak:
                peak, peak_t, peak_i, peak_set = cur, t, i, set(live_idx)
            peak_raw = max(peak_raw, cur_raw)
    end_cur = cur
    step_starts = [t for t, n in phases if t >= start_t and n.startswith("forward:") and n.endswith(".0")]
    reserved = _emulate_reserved(events, lifetimes, start_t, step_starts, snapshot) if emulate_reserved else None
    # ---- what is live at the peak ------------------------------------------------------------------
    by_cat = {c: 0 for c in CATEGORIES}
    by_op = {c: collections.Counter() for c in CATEGORIES}
    for i in peak_set:
        c = cats[i]
        b = round_block(lifetimes[i][3])
        by_cat[c] += b
        by_op[c][_op_name(lifetimes[i][4])] += b
    k = bisect.bisect_right([t for t, _ in phases], peak_t) - 1
    phase = phases[k][1] if k >= 0 else "(before)"
    peak_alloc = lifetimes[peak_i]
    # Per-phase maxima (the peak of each phase of the window) and what is live at each.
    ptimes = [t for t, _ in phases]
    phase_max = collections.OrderedDict()  # name -> (bytes, position in events)
    cur = 0
    for pos, (_, t, kind, i) in enumerate(events):
        cur += round_block(lifetimes[i][3]) * (1 if kind == 1 else -1)
        if t < start_t:
            continue
        k = bisect.bisect_right(ptimes, t) - 1
        name = phases[k][1]
        if name not in phase_max or cur > phase_max[name][0]:
            phase_max[name] = (cur, pos)
    wanted = {pos: name for name, (_, pos) in phase_max.items()}
    phase_peaks = collections.OrderedDict()
    live_now = set()
    for pos, (_, t, kind, i) in enumerate(events):
        if kind == 1:
            live_now.add(i)
        else:
            live_now.discard(i)
        if pos in wanted:
            pc = {c: 0 for c in CATEGORIES}
            tops = collections.Counter()
            for j in live_now:
                b = round_block(lifetimes[j][3])
                pc[cats[j]] += b
                if cats[j] == "temporaries":
                    tops[_op_name(lifetimes[j][4])] += b
            phase_peaks[wanted[pos]] = {"peak_bytes": phase_max[wanted[pos]][0], "categories": pc,
                                        "temporaries_by_op": dict(tops.most_common(6))}
            if detail:
                phase_peaks[wanted[pos]]["live"] = sorted(
                    ((cats[j], _op_name(lifetimes[j][4]), lifetimes[j][3]) for j in live_now),
                    key=lambda x: (CATEGORIES.index(x[0]) if x[0] in CATEGORIES else 99, -x[2]))
    phase_peaks = collections.OrderedDict(sorted(phase_peaks.items(), key=lambda kv: phase_order(kv[0])))
    return {
        "peak_bytes": peak,
        "peak_bytes_unrounded": peak_raw,
        "phase": phase,
        "peak_op": _op_name(peak_alloc[4]),
        "categories": by_cat,
        "categories_by_op": {c: dict(by_op[c].most_common(12)) for c in CATEGORIES if by_op[c]},
        "phase_peaks": dict(phase_peaks),
        "end_bytes": end_cur,
        **({"reserved_emulated": reserved} if reserved is not None else {}),
        "check": {"events": len(allocs), "mismatches": mismatches, "unknown_frees": unknown_frees,
                  "unrecorded_frees": reused_live, "exact": mismatches == 0},
    }


def _emulate_reserved(events, lifetimes, start_t, step_starts, snapshot=None):
    """The bytes CUDA's caching allocator would reserve for this allocation stream (allocator.py).  Setup
    allocations freed before the window are dropped: they are CPU-side construction temporaries (the model is
    built on the host and moved; on a GPU these never reach the device allocator)."""
    import allocator

    stream = []
    for _, t, kind, i in events:
        lt = lifetimes[i]
        if lt[1] is not None and lt[1] < start_t:
            continue
        stream.append((t, kind == 1, i, lt[3]))
    s = allocator.replay(stream, window_start=start_t, marks=step_starts)
    if snapshot:
        import snapshot as snapshot_writer
        snapshot_writer.write(stream, start_t, snapshot)
    # Reserved at the end of each step (the start of the next; the last is the final value).
    s["reserved_after_step"] = s.pop("reserved_at_marks", [])[1:] + [s["reserved"]]
    s["setup"] = "allocations freed before the window dropped"
    return s


def cuda_counters():
    """On a CUDA device: the allocator's own counters (code path present; not runnable on CPU)."""
    s = torch.cuda.memory_stats()
    return {"max_memory_allocated": torch.cuda.max_memory_allocated(),
            "max_memory_reserved": torch.cuda.max_memory_reserved(),
            "num_alloc_retries": s.get("num_alloc_retries", 0),
            "allocated_bytes.all.peak": s.get("allocated_bytes.all.peak", 0)}
