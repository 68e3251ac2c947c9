#!/usr/bin/env python3
"""trainmem ground-truth lab: real training steps on CPU, measured allocation by allocation.

  python3 tools/groundtruth/lab.py list [--subset ci|full]
  python3 tools/groundtruth/lab.py run [--subset ci|full] [--only NAME,...] [--out DIR]
  python3 tools/groundtruth/lab.py compare --trainmem PATH [--subset ci|full] [--results DIR] [--bound 3]
  python3 tools/groundtruth/lab.py render --trainmem PATH [--results DIR] [--out docs/accuracy.md]
  python3 tools/groundtruth/lab.py reserved [--only NAME,...] [--out tools/groundtruth/results/reserved.json]
  python3 tools/groundtruth/lab.py reserved-table --trainmem PATH [--results tools/groundtruth/results/reserved.json]

See tools/groundtruth/README.md.
"""

import argparse
import contextlib
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from catalogue import *  # noqa: E402,F401,F403  (MODELS, RESULTS, ROOT, catalogue, select, trainmem_flags, ...)
from catalogue import CI_SUBSET, RESULTS, ROOT, result_path, select, versions, write_model_configs  # noqa: E402,F401
from compare import cmd_compare, cmd_render, compare_rows, summary  # noqa: E402,F401
from reserved import cmd_reserved_table  # noqa: E402

# ---------------------------------------------------------------------------------------------------
# Building and training.

def build_model(c, torch):
    m = MODELS[c["model"]]
    if m["kind"] == "hf":
        import transformers
        d = hf_config_dict(c["model"])
        if "attn_pdrop" in d and c["attn"] != "eager":
            d["attn_pdrop"] = 0.0  # see attention_dropout()
        cfg = transformers.AutoConfig.for_model(**d)
        model = transformers.AutoModelForCausalLM.from_config(
            cfg, attn_implementation="eager" if c["attn"] == "eager" else "sdpa")
        if c["recipe"] == "bf16":
            model = model.to(torch.bfloat16)
        if c["ckpt"]:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False
        if c["lora"]:
            import peft
            if c["ckpt"]:
                model.enable_input_require_grads()
            lcfg = peft.LoraConfig(r=c["lora"], lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                   lora_dropout=0.0, task_type="CAUSAL_LM")
            model = peft.get_peft_model(model, lcfg)
        model.train()
        return model
    import fused
    dtype = torch.bfloat16 if c["recipe"] in ("bf16", "megatron") else torch.float32
    p = 0.1 if m["style"] == "gpt" else 0.0
    model = fused.MegatronModel(m["style"], m["layers"], m["h"], m["heads"], m["kv"], m["ffn"], m["vocab"],
                                c["seq"], "eager" if c["attn"] == "eager" else "flash", p, dtype,
                                max_positions=MAX_POS)
    model.checkpoint = c["ckpt"]
    model.train()
    return model


def make_optimizer(c, params, torch):
    kw = {}
    if c["impl"] == "foreach":
        kw["foreach"] = True
    elif c["impl"] == "fused":
        kw["fused"] = True
    else:
        kw["foreach"] = False
    if c["optimizer"] in ("adamw", "adam"):
        cls = torch.optim.AdamW if c["optimizer"] == "adamw" else torch.optim.Adam
        return cls, dict(lr=1e-4, weight_decay=0.01 if c["optimizer"] == "adamw" else 0.0, **kw)
    if c["optimizer"] == "sgd":
        return torch.optim.SGD, dict(lr=1e-3, momentum=0.0, **kw)
    return torch.optim.SGD, dict(lr=1e-3, momentum=0.9, **kw)


def observe_optimizer(rec, opt, impl, torch):
    states = []
    host = []
    for st in opt.state.values():
        for k, v in st.items():
            if not isinstance(v, torch.Tensor):
                continue
            # PyTorch keeps state['step'] on the host for CUDA params unless fused/capturable.
            if k == "step" and impl != "fused":
                host.append(v)
            else:
                states.append(v)
    rec.observe("host", host, "step")
    rec.observe("optimizer_states", states)


DETAIL = False
EMULATE = False  # lab.py reserved: also replay the stream through the caching-allocator emulator
FSDP_DIST = ("fsdp-full", "fsdp-grad-op")
SNAPSHOT = None  # lab.py snapshot: the path of the CUDA memory snapshot pickle to write (snapshot.py)
DEVICE = "cpu"  # lab.py run --device cuda: real CUDA steps (code path present; no GPU was available to run it)


def train(c, rank=0, world=1):
    """Run the configuration's steps under the profiler; return the result dict for this rank."""
    import torch
    import gloo_sync
    import measure
    from amp import cuda_faithful, patch_cuda_rules

    # Every rank builds the same weights (seed 1234), as DDP's initial broadcast would make them; the
    # inputs differ per rank (seed 1234 + rank, set after the model is built).
    torch.manual_seed(1234)
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // world))
    rec = measure.Recorder()
    # FSDP on gloo: its synchronous collectives return only once gloo's worker thread is done with
    # them, so every free happens on this thread, where the profiler records it (gloo_sync.py).
    fsdp = c["dist"] in FSDP_DIST
    with patch_cuda_rules(), (gloo_sync.caller_frees() if fsdp else contextlib.nullcontext({})) as comm:
        res = _train(c, rank, world, rec, torch, measure, cuda_faithful)
    if comm.get("calls"):
        res["gloo_sync"] = comm
    return res


def _train(c, rank, world, rec, torch, measure, cuda_faithful):
    m = MODELS[c["model"]]
    megatron = m["kind"] == "megatron"
    # DDP rebuilds its buckets in the second iteration; DDP runs three steps and measures the last
    # (steady state).
    # ZeRO-1 is DDP + ZeroRedundancyOptimizer (as users run it: DDP all-reduces the gradients, the
    # optimizer steps its partition and broadcasts the updated parameters), so it runs the same way.
    # FSDP runs the same way (its collectives through gloo_sync: see train()).
    steps = 3 if c["dist"] != "none" else 2
    seqs = c.get("seqs")  # variable sequence lengths: one step per length, inputs made at each step's start
    if seqs:
        assert c["dist"] == "none" and not megatron, "variable sequence lengths: single-process HF only"
        steps = len(seqs)
    window = "steady" if c["dist"] != "none" else "steps"
    t0 = time.time()
    with measure.profiled() as prof:
        dev = DEVICE
        model = build_model(c, torch).to(dev)
        if rank:
            torch.manual_seed(1234 + rank)
        params = [p for p in model.parameters()]
        trainable = [p for p in params if p.requires_grad]
        rec.observe("params", params)
        rec.observe("buffers", list(model.buffers()))
        main_grad = None
        masters = None
        if megatron:
            # Persistent fp32 gradient buffer (Megatron DDP) and fp32 master params (Float16Optimizer).
            n = sum(p.numel() for p in trainable)
            main_grad = torch.zeros(n, dtype=torch.float32, device=dev)
            off = 0
            masters = []
            for p in trainable:
                p.main_grad = main_grad[off: off + p.numel()].view_as(p)
                off += p.numel()
                mp = p.detach().float().requires_grad_(True)
                mp.grad = p.main_grad  # fp32 already: a view, as main_param.grad = main_grad.float()
                masters.append(mp)

                def hook(param):  # grads autograd still produces (embedding, norms, biases)
                    param.main_grad.add_(param.grad)
                    param.grad = None
                p.register_post_accumulate_grad_hook(hook)
            rec.observe("grads", [main_grad])
            rec.observe("master_params", masters)
        ddp_model = model
        if c["dist"] in ("ddp", "zero1"):
            # init_sync=False: the ranks already hold the same weights (same seed), so DDP's initial
            # broadcast (_sync_module_states: one flat copy of every parameter, flatten_dense_tensors) is
            # skipped.  On gloo that setup-time copy was sometimes still referenced by the broadcast's work
            # object during the measured step (one more params-sized temporary on one rank, in about half
            # of the runs on one core): a setup artefact, not steady-state DDP (README, "DDP on gloo").
            ddp_model = torch.nn.parallel.DistributedDataParallel(model, init_sync=False)
        elif c["dist"] in FSDP_DIST:
            from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
            # fsdp-mp: FSDP's mixed-precision policy over the fp32 model (what accelerate sets for bf16 with FSDP):
            # bf16 all-gathers, compute and gradient reduction; fp32 shards, sharded gradients and optimizer.
            mp = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.bfloat16)
                  if c["recipe"] == "fsdp-mp" else MixedPrecisionPolicy())
            for layer in model.model.layers:
                fully_shard(layer, reshard_after_forward=(c["dist"] == "fsdp-full"), mp_policy=mp)
            fully_shard(model, reshard_after_forward=(c["dist"] == "fsdp-full"), mp_policy=mp)
            params = list(model.parameters())
            trainable = [p for p in params if p.requires_grad]
            rec.observe("params", [p.to_local() if hasattr(p, "to_local") else p for p in params])
        cls, kw = make_optimizer(c, trainable, torch)
        if megatron:
            opt = cls(masters, **kw)
        elif c["dist"] == "zero1":
            from torch.distributed.optim import ZeroRedundancyOptimizer
            opt = ZeroRedundancyOptimizer(trainable, optimizer_class=cls, **kw)
        else:
            opt = cls(trainable, **kw)
        vocab = m["vocab"]
        ids = [] if seqs else [torch.randint(0, vocab, (c["mbs"], c["seq"]), device=dev) for _ in range(c["accum"])]
        rec.observe("inputs", ids)
        # Label tensors: HF shifts internally; Megatron takes shifted labels.
        labels = ids if not megatron else [torch.roll(i, -1, 1) for i in ids]
        if megatron:
            rec.observe("inputs", labels)
        use_amp = c["recipe"] == "amp"
        cur = {"tag": ""}

        def on_logits(*_):
            rec.phase("loss:" + cur["tag"])
        if megatron:
            model.on_logits = on_logits
        else:
            model.get_output_embeddings().register_forward_hook(on_logits)
        if dev == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        rec.phase("steps")
        for step in range(steps):
            if window == "steady" and step == steps - 1:
                # Let every collective of the earlier steps finish and its work objects (which hold gloo's
                # flattened copies) be released before the measured step: see README, "DDP on gloo".
                torch.distributed.barrier()
                gc.collect()
                rec.phase("steady")
            if seqs:
                ids = [torch.randint(0, vocab, (c["mbs"], seqs[step]), device=dev) for _ in range(c["accum"])]
                rec.observe("inputs", ids)
                labels = ids
            for micro in range(c["accum"]):
                cur["tag"] = "%d.%d" % (step, micro)
                rec.phase("forward:" + cur["tag"])
                with rec.saved_tensors(), cuda_faithful(enabled=use_amp, device=dev):
                    if megatron:
                        loss = ddp_model(ids[micro], labels[micro])
                    else:
                        out = ddp_model(input_ids=ids[micro], labels=labels[micro])
                        loss = out.loss
                        del out  # the Trainer keeps only the loss
                    if c["accum"] > 1:
                        loss = loss / c["accum"]
                rec.phase("backward:" + cur["tag"])
                loss.backward()
                del loss
                rec.observe("grads", [p.grad for p in trainable])
            rec.phase("optimizer:%d" % step)
            if megatron:
                opt.step()
                with torch.no_grad():
                    for p, mp in zip(trainable, masters):
                        p.copy_(mp)
                rec.observe("optimizer_states", [])
                observe_optimizer(rec, opt, c["impl"], torch)
                main_grad.zero_()
                for mp, p in zip(masters, trainable):
                    mp.grad = p.main_grad
            else:
                opt.step()
                inner = opt.optim if c["dist"] == "zero1" else opt
                observe_optimizer(rec, inner, c["impl"], torch)
                rec.observe("params", params)
                opt.zero_grad(set_to_none=True)
        rec.phase("end")
    wall = time.time() - t0
    res = measure.analyse(prof, rec, window_start=window, detail=DETAIL, device=DEVICE, emulate_reserved=EMULATE,
                           snapshot=SNAPSHOT)
    res["window"] = "last step" if window == "steady" else "all %d steps" % steps
    if DEVICE == "cuda":
        torch.cuda.synchronize()
        res["cuda"] = measure.cuda_counters()  # the allocator's own peak since the reset after setup
    res["rank"] = rank
    res["wall_s"] = round(wall, 2)
    return res


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _dist_worker(rank, world, c, port, outdir, device="cpu"):
    import torch.distributed as dist
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    global DEVICE
    DEVICE = device
    if device == "cuda":
        import torch
        torch.cuda.set_device(rank)
    dist.init_process_group("nccl" if device == "cuda" else "gloo", rank=rank, world_size=world)
    try:
        res = train(c, rank, world)
    finally:
        dist.destroy_process_group()
    with open(os.path.join(outdir, "rank%d.json" % rank), "w") as f:
        json.dump(res, f)




def run_config(c, results=RESULTS):
    import tempfile
    t0 = time.time()
    if c["dist"] == "none":
        ranks = [train(c)]
    else:
        import torch.multiprocessing as mp
        with tempfile.TemporaryDirectory() as d:
            mp.spawn(_dist_worker, args=(c["dp"], c, _free_port(), d, DEVICE), nprocs=c["dp"], join=True)
            ranks = []
            for r in range(c["dp"]):
                with open(os.path.join(d, "rank%d.json" % r)) as f:
                    ranks.append(json.load(f))
    out = {
        "name": c["name"],
        "config": c,
        "trainmem_flags": trainmem_flags(c, results),
        "measured": {
            "device": ("cpu (CUDA caching allocator's 512-byte blocks emulated; host-only step tensors excluded)"
                       if DEVICE == "cpu" else "cuda: " + __import__("torch").cuda.get_device_name()),
            "max_peak_bytes": max(r["peak_bytes"] for r in ranks),
            "ranks": ranks,
        },
        "versions": versions(),
        "wall_s": round(time.time() - t0, 2),
    }
    return out




def cmd_run(args):
    global DEVICE
    DEVICE = args.device
    write_model_configs(args.out)
    cs = select(args.subset, args.only)
    failed = 0
    for c in cs:
        try:
            r = run_config(c, args.out)
        except Exception as e:  # keep going; report at the end
            failed += 1
            print("%-60s FAILED: %s" % (c["name"], e), flush=True)
            continue
        with open(result_path(args.out, c["name"], DEVICE), "w") as f:
            json.dump(r, f, indent=1, sort_keys=True)
            f.write("\n")
        m = r["measured"]
        r0 = m["ranks"][0]
        print("%-60s peak %12d  %-16s exact=%s  %.1fs" % (c["name"], m["max_peak_bytes"], r0["phase"],
                                                         all(x["check"]["exact"] for x in m["ranks"]),
                                                         r["wall_s"]), flush=True)
    return 1 if failed else 0


def cmd_reserved(args):
    """Each reserved_catalogue() configuration, its allocation stream replayed through the caching-allocator
    emulator (allocator.py): peak allocated vs the reserved bytes; a summary table in --out (JSON)."""
    global EMULATE
    EMULATE = True
    from catalogue import reserved_catalogue
    rows = []
    for c in reserved_catalogue():
        if args.only and c["name"] not in args.only.split(","):
            continue
        r = train(c)
        e = r["reserved_emulated"]
        row = {"name": c["name"], "config": c, "trainmem_flags": trainmem_flags(c), "peak_bytes": r["peak_bytes"],
               "peak_reserved_emulated": e["peak_reserved"], "peak_allocated_emulated": e["peak_allocated"],
               "reserved_over_allocated": e["peak_reserved"] - r["peak_bytes"], "small_segments": e["small_segments"],
               "large_segments": e["large_segments"], "reserved_after_step": e["reserved_after_step"], "check_exact": r["check"]["exact"], "wall_s": r["wall_s"]}
        rows.append(row)
        print("%-52s allocated %12d  reserved %12d  over %11d (%5.1f%%)  %.1fs" % (
            c["name"], row["peak_bytes"], row["peak_reserved_emulated"], row["reserved_over_allocated"],
            100.0 * row["reserved_over_allocated"] / row["peak_bytes"], r["wall_s"]), flush=True)
    if args.only and os.path.exists(args.out):  # --only: replace those rows, keep the others
        with open(args.out) as f:
            old = [r for r in json.load(f)["rows"] if r["name"] not in {x["name"] for x in rows}]
        order = [c["name"] for c in reserved_catalogue()]
        rows = sorted(old + rows, key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
    out = {"method": "tools/groundtruth/allocator.py replays each CPU run's exact allocation stream "
                     "(measure.py) with CUDACachingAllocator's rules; peak_bytes = the lab's peak (512 B blocks); "
                     "peak_allocated_emulated = memory_allocated's peak (block sizes); setup transients dropped",
           "versions": versions(), "rows": rows}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


def cmd_snapshot(args):
    """One single-process configuration: its result JSON (with the emulator's reserved figures) and its allocation
    stream as a CUDA memory snapshot pickle (snapshot.py), for `trainmem compare --measured`."""
    global EMULATE, SNAPSHOT
    EMULATE, SNAPSHOT = True, args.pickle
    c = select("full", args.name)[0]
    if c["dist"] != "none":
        raise SystemExit("lab.py snapshot: single-process configurations only")
    r = run_config(c)
    with open(args.json, "w") as f:
        json.dump(r, f, indent=1, sort_keys=True)
        f.write("\n")
    m = r["measured"]["ranks"][0]
    print("%s: peak %d (unrounded %d), emulated reserved %d -> %s, %s" % (
        c["name"], m["peak_bytes"], m["peak_bytes_unrounded"], m["reserved_emulated"]["peak_reserved"], args.json,
        args.pickle))
    return 0


def cmd_detail(args):
    """Every allocation live at each phase's peak of the last step (not stored in results)."""
    global DETAIL
    DETAIL = True
    c = select("full", args.name)[0]
    r = train(c)
    last = max(int(k.split(":")[1].split(".")[0]) for k in r["phase_peaks"] if ":" in k)
    for name, ph in r["phase_peaks"].items():
        if not name.split(":")[1].startswith(str(last)) or (args.phase and not name.startswith(args.phase)):
            continue
        print("== %s  peak %d  %s" % (name, ph["peak_bytes"], ph["categories"]))
        agg = {}
        for cat, op, size in ph["live"]:
            k = (cat, op, size)
            agg[k] = agg.get(k, 0) + 1
        for (cat, op, size), n in sorted(agg.items(), key=lambda kv: (kv[0][0], -kv[0][2] * kv[1])):
            print("  %-16s %-60s %12d x %d" % (cat, op[:60], size, n))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("list")
    p.add_argument("--subset", default="full", choices=["ci", "full"])
    p = sub.add_parser("run")
    p.add_argument("--subset", default="full", choices=["ci", "full"])
    p.add_argument("--only", default=None, help="comma-separated configuration names")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cuda: run on a GPU, profile CUDA allocations and read torch.cuda.max_memory_allocated "
                        "(results as NAME.cuda.json; untested here: no GPU was available)")
    p.add_argument("--out", default=RESULTS)
    p = sub.add_parser("reserved")
    p.add_argument("--only", default=None, help="comma-separated configuration names")
    p.add_argument("--out", default=os.path.join(RESULTS, "reserved.json"))
    p = sub.add_parser("reserved-table")
    p.add_argument("--trainmem", required=True)
    p.add_argument("--results", default=os.path.join(RESULTS, "reserved.json"))
    p = sub.add_parser("snapshot")
    p.add_argument("name")
    p.add_argument("--json", required=True, help="the result JSON (as lab.py run writes it)")
    p.add_argument("--pickle", required=True, help="the snapshot pickle (torch.cuda.memory._dump_snapshot format)")
    p = sub.add_parser("detail")
    p.add_argument("name")
    p.add_argument("--phase", default=None, help="forward | loss | backward | optimizer")
    p = sub.add_parser("compare")
    p.add_argument("--trainmem", required=True)
    p.add_argument("--subset", default="full", choices=["ci", "full"])
    p.add_argument("--results", default=RESULTS)
    p.add_argument("--bound", type=float, default=3.0, help="max |error| in percent (default 3)")
    p.add_argument("--legacy", action="store_true",
                   help="baseline for a trainmem without --framework/--optimizer-impl/--recipe amp: drop those")
    p.add_argument("--allow-unsupported", action="store_true",
                   help="exit 0 when rows are unsupported (flag rejected) and the rest are within the bound")
    p = sub.add_parser("render")
    p.add_argument("--trainmem", default=None, help="binary for the predicted columns")
    p.add_argument("--results", default=RESULTS)
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "accuracy.md"))
    args = ap.parse_args()
    if args.cmd == "list":
        for c in select(args.subset):
            print(c["name"])
        return 0
    return {"run": cmd_run, "compare": cmd_compare, "render": cmd_render, "detail": cmd_detail,
            "reserved": cmd_reserved, "snapshot": cmd_snapshot, "reserved-table": cmd_reserved_table}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
