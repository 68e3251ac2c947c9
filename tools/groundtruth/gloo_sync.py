"""FSDP2 on gloo with every free on the training thread, where torch.profiler can see it.

Why (README, "DDP and FSDP on gloo"): torch.profiler records an allocation or a free only on a thread
that carries the profiler's thread-local state, and c10's CPU reporter then leaves an unseen free in
its running total as well (so measure.py's self-consistency check cannot notice it).  gloo runs each
collective on a worker thread (ProcessGroupGloo::runLoop), and the work object keeps its tensors --
the caller's input/output and gloo's own temporaries, e.g. the input copy that
`c10d::_reduce_scatter_base_` makes (`aten::clone`, 8,192,128 B for llama's root group) -- until the
worker drops it, a little after completing the future that `work.wait()` waits on.  When the caller
dropped its references first, the last reference went on the worker thread: the memory was freed
(malloc handed the same address out again later) but the replay kept the buffer live for the rest
of the run.  That is where the "leftover" root-sized buffers of the FSDP rows came from.

What `caller_frees()` changes, for FSDP2's two collectives (torch.distributed.all_gather_single and
reduce_scatter_single, looked up as `dist.` at call time by FSDP's DefaultAllGather /
DefaultReduceScatter) when they are called synchronously (async_op=False, as FSDP2 does here):
* the all-gather is issued async, waited on, its handle dropped, and the call returns only once the
  tensors passed in are back to the TensorImpl use counts and Python reference counts they had before
  it (see counts()): the work object is gone, so FSDP2 (which holds both tensors past the call) makes
  the last release, on the training thread;
* the reduce-scatter is done as an in-place all-reduce of FSDP2's reduce-scatter input (same op, same
  group; gloo's all-reduce makes no copy), waited on the same way, followed by a copy of this rank's
  chunk into the output.  This leaves out gloo's input copy, which NCCL's reduce-scatter does not make
  either; FSDP2 never reads its reduce-scatter input after the collective (it keeps it only so that the
  caching allocator does not reuse it early), so overwriting it with the sum changes nothing it does.
No allocation of FSDP2's is added, dropped or kept longer than FSDP2 keeps it.  Async calls pass
through unchanged.  Gloo's internal buffers are its own malloc, not c10's, and were never part of
the measurement.
"""

import contextlib
import sys
import time

import torch
import torch.distributed as dist

WRAPPED = ("all_gather_single", "reduce_scatter_single")
TIMEOUT_S = 30.0


def _tensors(args, kwargs):
    return [a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)]


def counts(ts):
    """Each tensor's TensorImpl use count and its Python object's reference count.

    While C++ code (a gloo work object) holds a tensor that Python also holds, the TensorImpl keeps a
    reference to the Python object as well; the worker drops that one under the GIL, after its C++
    references.  Both must be back before the caller's own release can be the last one."""
    return [(t._use_count(), sys.getrefcount(t)) for t in ts]


def wait_released(ts, before, timeout_s=TIMEOUT_S):
    """Wait until counts(ts) is back to `before`, element by element; return the number of polls."""
    deadline = time.monotonic() + timeout_s
    polls = 0
    while True:
        now = counts(ts)
        held = [(c, b) for c, b in zip(now, before) if c[0] > b[0] or c[1] > b[1]]
        if not held:
            return polls
        if time.monotonic() > deadline:
            raise RuntimeError("gloo still references a collective's tensors after %.0f s "
                               "((use count, refcount) now, before: %s)" % (timeout_s, held))
        polls += 1
        time.sleep(0.0002)


def _all_gather(fn, stats):
    def call(*args, async_op=False, **kwargs):
        if async_op:
            return fn(*args, async_op=True, **kwargs)
        ts = _tensors(args, kwargs)
        before = counts(ts)
        work = fn(*args, async_op=True, **kwargs)
        work.wait()
        del work
        stats["calls"] += 1
        stats["polled"] += 1 if wait_released(ts, before) else 0
        return None
    call.__wrapped__ = fn
    return call


def _reduce_scatter(fn, stats):
    def call(output, input, op=dist.ReduceOp.SUM, group=None, async_op=False):
        if async_op:
            return fn(output, input, op=op, group=group, async_op=True)
        ts = [input]
        before = counts(ts)
        work = dist.all_reduce(input, op=op, group=group, async_op=True)
        work.wait()
        del work
        stats["calls"] += 1
        stats["polled"] += 1 if wait_released(ts, before) else 0
        world, rank = dist.get_world_size(group), dist.get_rank(group)
        if input.numel() != output.numel() * world:
            raise ValueError("reduce_scatter_single: input has %d elements, output %d x world %d"
                             % (input.numel(), output.numel(), world))
        output.view(-1).copy_(input.view(world, -1)[rank])
        return None
    call.__wrapped__ = fn
    return call


@contextlib.contextmanager
def caller_frees():
    """Inside: FSDP2's synchronous gloo collectives return with gloo's references released.

    Yields a dict: how many calls were wrapped, and in how many gloo still referenced the tensors
    after the wait (so that the call had to poll until it let go)."""
    stats = {"calls": 0, "polled": 0}
    if not (dist.is_initialized() and dist.get_backend() == "gloo"):
        yield stats
        return
    saved = {n: getattr(dist, n) for n in WRAPPED}
    dist.all_gather_single = _all_gather(saved["all_gather_single"], stats)
    dist.reduce_scatter_single = _reduce_scatter(saved["reduce_scatter_single"], stats)
    try:
        yield stats
    finally:
        for n, fn in saved.items():
            setattr(dist, n, fn)
