"""gloo_sync: FSDP2's collectives on gloo without frees the profiler cannot see.

Two gloo ranks run, under the profiler, a loop of the two collectives FSDP2 issues (all_gather_single,
reduce_scatter_single) on 8 MB tensors, dropping everything after each call, with gloo_sync's
wrappers installed.  Every byte allocated in the loop is freed in it, so the replay must end where
it started (end_bytes == 0), with no allocation at an address the replay still holds
(check.unrecorded_frees == 0; without the wrappers gloo's worker thread made the last release of
some of those buffers and they stayed "live" to the end: README, "DDP and FSDP on gloo").
The wrapped reduce-scatter must give the same result as gloo's own (two ranks, fp32 sums of small
integers: exact).
"""

import json
import os
import socket
import sys

import pytest

torch = pytest.importorskip("torch")
LAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "groundtruth")
sys.path.insert(0, LAB)

N = 2_000_000  # fp32 elements per rank's chunk: 8 MB tensors, allocated with mmap by glibc


def _worker(rank, port, outdir):
    sys.path.insert(0, LAB)
    import torch.distributed as dist
    import gloo_sync
    import measure
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        # gloo's own result first (outside the profile), to compare with the wrapped one.
        inp = torch.arange(2 * N, dtype=torch.float32) * (rank + 1)
        want = torch.empty(N)
        dist.reduce_scatter_single(want, inp.clone(), op=dist.ReduceOp.SUM)
        rec = measure.Recorder()
        with measure.profiled() as prof, gloo_sync.caller_frees() as stats:
            got = torch.empty(N)
            dist.reduce_scatter_single(output=got, input=inp, op=dist.ReduceOp.SUM)
            same = bool(torch.equal(got, want))
            del got, inp, want
            rec.phase("steps")
            for _ in range(10):
                full = torch.empty(2 * N)
                part = full[rank * N:(rank + 1) * N]
                part.fill_(rank)
                dist.all_gather_single(full, part)
                del part, full
                rs_in = torch.ones(2 * N)
                rs_out = torch.empty(N)
                dist.reduce_scatter_single(output=rs_out, input=rs_in, op=dist.ReduceOp.AVG)
                del rs_in, rs_out
                busy = torch.ones(N)  # the training thread moves on while gloo finishes
                del busy
            rec.phase("end")
        r = measure.analyse(prof, rec)
        out = {"same": same, "check": r["check"], "end_bytes": r["end_bytes"], "stats": stats}
    finally:
        dist.destroy_process_group()
    with open(os.path.join(outdir, "rank%d.json" % rank), "w") as f:
        json.dump(out, f)


def test_no_unrecorded_frees(tmp_path):
    import torch.distributed as dist
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    import torch.multiprocessing as mp
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    mp.spawn(_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        with open(tmp_path / ("rank%d.json" % rank)) as f:
            r = json.load(f)
        assert r["same"], rank
        assert r["stats"]["calls"] == 21, r
        assert r["check"]["exact"] and r["check"]["unrecorded_frees"] == 0, r
        assert r["end_bytes"] == 0, r
