#!/usr/bin/env python3
"""trainmem ground-truth lab: real training steps on CPU, measured allocation by allocation.

  python3 tools/groundtruth/lab.py list [--subset ci|full]
  python3 tools/groundtruth/lab.py run [--subset ci|full] [--only NAME,...] [--out DIR]
  python3 tools/groundtruth/lab.py compare --trainmem PATH [--subset ci|full] [--results DIR] [--bound 3]
  python3 tools/groundtruth/lab.py render --trainmem PATH [--results DIR] [--out docs/accuracy.md]

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
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
RESULTS = os.path.join(HERE, "results")

# ---------------------------------------------------------------------------------------------------
# Models: tiny hidden sizes, real vocabularies.

MODELS = {
    "gpt2": dict(kind="hf", model_type="gpt2", vocab=50257, h=64, layers=2, heads=4, kv=4, ffn=256),
    "llama": dict(kind="hf", model_type="llama", vocab=32000, h=64, layers=2, heads=4, kv=2, ffn=176),
    "qwen2": dict(kind="hf", model_type="qwen2", vocab=151936, h=64, layers=2, heads=4, kv=2, ffn=160),
    "megatron-gpt": dict(kind="megatron", style="gpt", vocab=50257, h=64, layers=2, heads=4, kv=4, ffn=256),
    "megatron-llama": dict(kind="megatron", style="llama", vocab=32000, h=64, layers=2, heads=4, kv=2, ffn=176),
}
MAX_POS = 2048


def hf_config_dict(name):
    m = MODELS[name]
    if m["model_type"] == "gpt2":
        return dict(model_type="gpt2", vocab_size=m["vocab"], n_positions=MAX_POS, n_embd=m["h"],
                    n_layer=m["layers"], n_head=m["heads"], n_inner=m["ffn"], activation_function="gelu_new",
                    resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1, tie_word_embeddings=True)
    return dict(model_type=m["model_type"], vocab_size=m["vocab"], hidden_size=m["h"],
                intermediate_size=m["ffn"], num_hidden_layers=m["layers"], num_attention_heads=m["heads"],
                num_key_value_heads=m["kv"], max_position_embeddings=MAX_POS, hidden_act="silu",
                rms_norm_eps=1e-6, attention_dropout=0.0, tie_word_embeddings=(m["model_type"] == "qwen2"),
                use_cache=False)


def megatron_config_dict(name):
    """An HF-format config.json describing the Megatron stand-in (what trainmem reads)."""
    m = MODELS[name]
    if m["style"] == "gpt":
        return dict(model_type="gpt2", vocab_size=m["vocab"], n_positions=MAX_POS, n_embd=m["h"],
                    n_layer=m["layers"], n_head=m["heads"], n_inner=m["ffn"], tie_word_embeddings=True)
    return dict(model_type="llama", vocab_size=m["vocab"], hidden_size=m["h"], intermediate_size=m["ffn"],
                num_hidden_layers=m["layers"], num_attention_heads=m["heads"], num_key_value_heads=m["kv"],
                max_position_embeddings=MAX_POS, tie_word_embeddings=False)


def config_path(name, results):
    return os.path.join(results, "configs", name + ".json")


def write_model_configs(results):
    os.makedirs(os.path.join(results, "configs"), exist_ok=True)
    for name, m in MODELS.items():
        d = hf_config_dict(name) if m["kind"] == "hf" else megatron_config_dict(name)
        with open(config_path(name, results), "w") as f:
            json.dump(d, f, indent=2, sort_keys=True)
            f.write("\n")


# ---------------------------------------------------------------------------------------------------
# The catalogue.

def C(model, recipe="fp32", opt="adamw", impl="for-loop", seq=128, mbs=1, accum=1, ckpt=False, lora=0,
      attn="sdpa", dist="none", dp=1):
    parts = [model, recipe, opt, impl, "s%d" % seq, "b%d" % mbs]
    if accum > 1:
        parts.append("ga%d" % accum)
    if ckpt:
        parts.append("ckpt")
    if lora:
        parts.append("lora%d" % lora)
    if attn != "sdpa":
        parts.append(attn)
    if dist != "none":
        parts.append("%s-dp%d" % (dist, dp))
    return dict(name="-".join(parts), model=model, recipe=recipe, optimizer=opt, impl=impl, seq=seq, mbs=mbs,
                accum=accum, ckpt=ckpt, lora=lora, attn=attn, dist=dist, dp=dp)


def catalogue():
    cs = []
    # Precision x model (AdamW for-loop, s=128, b=2).
    for model in ("gpt2", "llama", "qwen2"):
        for recipe in ("fp32", "bf16", "amp"):
            cs.append(C(model, recipe, mbs=2))
    # Optimizers x implementations (llama, fp32 and bf16).
    for recipe in ("fp32", "bf16"):
        for opt in ("adamw", "sgd", "sgd-momentum"):
            for impl in ("for-loop", "foreach", "fused"):
                if (recipe, opt, impl) == ("fp32", "adamw", "for-loop"):
                    continue  # in the block above with mbs=2; this block uses mbs=1
                cs.append(C("llama", recipe, opt, impl))
    cs.append(C("llama", "fp32", "adamw", "for-loop"))
    # Attention implementation.
    for model in ("gpt2", "llama", "qwen2"):
        cs.append(C(model, "bf16", attn="eager", mbs=2))
    # Sequence / micro batch sweep.
    for seq, mbs in ((256, 1), (512, 1), (1024, 1), (2048, 1), (128, 4), (512, 2), (256, 3)):
        cs.append(C("llama", "bf16", "adamw", "foreach", seq=seq, mbs=mbs))
    cs.append(C("gpt2", "amp", "adamw", "fused", seq=1024, mbs=1))
    cs.append(C("qwen2", "bf16", "adamw", "fused", seq=512, mbs=1))
    # Gradient accumulation and checkpointing.
    for model in ("gpt2", "llama"):
        cs.append(C(model, "bf16", "adamw", "foreach", seq=256, mbs=2, accum=2))
        cs.append(C(model, "bf16", "adamw", "foreach", seq=256, mbs=2, ckpt=True))
        cs.append(C(model, "amp", "adamw", "foreach", seq=256, mbs=2, ckpt=True))
    cs.append(C("qwen2", "bf16", "adamw", "foreach", seq=256, mbs=1, accum=4))
    # LoRA r=8 on q,v (bf16 base).
    for model in ("llama", "qwen2"):
        cs.append(C(model, "bf16", "adamw", "for-loop", seq=256, mbs=2, lora=8))
        cs.append(C(model, "bf16", "adamw", "fused", seq=256, mbs=1, lora=8, ckpt=True))
    cs.append(C("llama", "amp", "adamw", "foreach", seq=256, mbs=2, lora=8))
    # Megatron stand-ins (bf16 params, fp32 main_grad buffer + fp32 master, fused AdamW).
    for model in ("megatron-gpt", "megatron-llama"):
        for seq, mbs in ((128, 2), (512, 1)):
            cs.append(C(model, "megatron", "adamw", "fused", seq=seq, mbs=mbs, attn="flash"))
        cs.append(C(model, "megatron", "adamw", "fused", seq=256, mbs=2, attn="eager"))
        cs.append(C(model, "megatron", "adamw", "fused", seq=256, mbs=2, accum=2, attn="flash"))
        cs.append(C(model, "megatron", "adamw", "fused", seq=256, mbs=2, ckpt=True, attn="flash"))
    # Distributed (gloo, CPU processes).
    for dp in (2, 4):
        cs.append(C("llama", "bf16", "adamw", "foreach", seq=128, mbs=1, dist="ddp", dp=dp))
        cs.append(C("llama", "bf16", "adamw", "foreach", seq=128, mbs=1, dist="zero1", dp=dp))
    cs.append(C("gpt2", "fp32", "adamw", "foreach", seq=128, mbs=2, dist="ddp", dp=2))
    cs.append(C("llama", "amp", "adamw", "foreach", seq=128, mbs=1, dist="ddp", dp=2))
    cs.append(C("qwen2", "bf16", "adamw", "foreach", seq=128, mbs=1, dist="zero1", dp=2))
    for dp in (2, 4):
        cs.append(C("llama", "bf16", "adamw", "foreach", seq=128, mbs=1, dist="fsdp-full", dp=dp))
    cs.append(C("llama", "bf16", "adamw", "foreach", seq=128, mbs=1, dist="fsdp-grad-op", dp=2))
    seen = set()
    for c in cs:
        assert c["name"] not in seen, c["name"]
        seen.add(c["name"])
    return cs


CI_SUBSET = [
    "gpt2-fp32-adamw-for-loop-s128-b2", "llama-bf16-adamw-for-loop-s128-b2", "qwen2-amp-adamw-for-loop-s128-b2",
    "llama-bf16-adamw-foreach-s128-b1", "llama-fp32-adamw-fused-s128-b1", "llama-bf16-sgd-momentum-for-loop-s128-b1",
    "gpt2-bf16-adamw-for-loop-s128-b2-eager", "llama-bf16-adamw-foreach-s256-b2-ga2",
    "llama-bf16-adamw-foreach-s256-b2-ckpt", "llama-bf16-adamw-for-loop-s256-b2-lora8",
    "megatron-llama-megatron-adamw-fused-s128-b2-flash", "megatron-gpt-megatron-adamw-fused-s128-b2-flash",
    "llama-bf16-adamw-foreach-s128-b1-ddp-dp2", "llama-bf16-adamw-foreach-s128-b1-zero1-dp2",
]


def select(subset, only=None):
    cs = catalogue()
    if only:
        names = set(only.split(","))
        return [c for c in cs if c["name"] in names]
    if subset == "ci":
        by = {c["name"]: c for c in cs}
        return [by[n] for n in CI_SUBSET]
    return cs


# ---------------------------------------------------------------------------------------------------
# trainmem flags describing a configuration.

RECIPE_FLAG = {"fp32": "fp32", "bf16": "bf16", "amp": "amp", "megatron": "mixed-18"}
ZERO_STAGE = {"none": 0, "ddp": 0, "zero1": 1, "fsdp-grad-op": 2, "fsdp-full": 3}


def attention_dropout(c):
    """GPT-style models use dropout 0.1, but attention dropout only with eager attention: CPU's SDPA has
    no flash kernel with dropout and would fall back to the math path (saving the probabilities),
    which is not what CUDA's flash kernel does."""
    m = MODELS[c["model"]]
    gpt = m.get("model_type") == "gpt2" or m.get("style") == "gpt"
    return 0.1 if gpt and c["attn"] == "eager" else 0.0


def trainmem_flags(c, results=RESULTS):
    m = MODELS[c["model"]]
    framework = "hf" if m["kind"] == "hf" else "megatron"
    flags = ["--model-config", os.path.relpath(config_path(c["model"], results), ROOT),
             "--seq-length", str(c["seq"]), "--micro-batch-size", str(c["mbs"]),
             "--global-batch-size", str(c["mbs"] * c["accum"] * c["dp"]), "--dp", str(c["dp"]),
             "--zero-stage", str(ZERO_STAGE[c["dist"]]), "--recipe", RECIPE_FLAG[c["recipe"]],
             "--optimizer", c["optimizer"], "--optimizer-impl", c["impl"], "--framework", framework,
             "--attention", "eager" if c["attn"] == "eager" else "flash", "--runtime", "off"]
    p = 0.1 if (m.get("model_type") == "gpt2" or m.get("style") == "gpt") else 0.0
    flags += ["--attention-dropout", str(attention_dropout(c)), "--hidden-dropout", str(p)]
    if c["ckpt"]:
        flags += ["--recompute-granularity", "full"]
    if c["lora"]:
        flags += ["--lora-rank", str(c["lora"]), "--lora-target-modules", "q_proj,v_proj",
                  "--base-weight-dtype", "bf16" if c["recipe"] == "bf16" else "fp32"]
    if c["dist"] in ("ddp", "zero1"):
        flags += ["--ddp-gradient-as-bucket-view", "false"]
    return flags


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
DEVICE = "cpu"  # lab.py run --device cuda: real CUDA steps (code path present; no GPU was available to run it)


def train(c, rank=0, world=1):
    """Run the configuration's steps under the profiler; return the result dict for this rank."""
    import torch
    import measure
    from amp import cuda_faithful, patch_cuda_rules

    torch.manual_seed(1234 + rank)
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // world))
    rec = measure.Recorder()
    with patch_cuda_rules():
        return _train(c, rank, world, rec, torch, measure, cuda_faithful)


def _train(c, rank, world, rec, torch, measure, cuda_faithful):
    m = MODELS[c["model"]]
    megatron = m["kind"] == "megatron"
    # DDP rebuilds its buckets in the second iteration and the first iteration's buckets are sometimes
    # still referenced (gloo work objects) when that iteration's backward starts: measured 83,470,848 or
    # 91,848,192 B in repeated runs.  DDP runs three steps and measures the last (steady state).
    # ZeRO-1 is DDP + ZeroRedundancyOptimizer (as users run it: DDP all-reduces the gradients, the
    # optimizer steps its partition and broadcasts the updated parameters), so it runs the same way.
    # FSDP runs the same way: its all-gather outputs' lifetimes on gloo depend on when the earlier steps'
    # collectives complete (measured 2 to 4 root-sized buffers per rank in 2-step runs).
    steps = 3 if c["dist"] != "none" else 2
    window = "steady" if c["dist"] != "none" else "steps"
    t0 = time.time()
    with measure.profiled() as prof:
        dev = DEVICE
        model = build_model(c, torch).to(dev)
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
            ddp_model = torch.nn.parallel.DistributedDataParallel(model)
        elif c["dist"] in ("fsdp-full", "fsdp-grad-op"):
            from torch.distributed.fsdp import fully_shard
            for layer in model.model.layers:
                fully_shard(layer, reshard_after_forward=(c["dist"] == "fsdp-full"))
            fully_shard(model, reshard_after_forward=(c["dist"] == "fsdp-full"))
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
        ids = [torch.randint(0, vocab, (c["mbs"], c["seq"]), device=dev) for _ in range(c["accum"])]
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
    res = measure.analyse(prof, rec, window_start=window, detail=DETAIL, device=DEVICE)
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


def versions():
    import torch
    v = {"torch": torch.__version__, "python": sys.version.split()[0]}
    for mod in ("transformers", "peft", "accelerate"):
        try:
            v[mod] = __import__(mod).__version__
        except ImportError:
            v[mod] = None
    return v


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


def result_path(results, name):
    return os.path.join(results, name + (".json" if DEVICE == "cpu" else "." + DEVICE + ".json"))


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
        with open(result_path(args.out, c["name"]), "w") as f:
            json.dump(r, f, indent=1, sort_keys=True)
            f.write("\n")
        m = r["measured"]
        r0 = m["ranks"][0]
        print("%-60s peak %12d  %-16s exact=%s  %.1fs" % (c["name"], m["max_peak_bytes"], r0["phase"],
                                                         all(x["check"]["exact"] for x in m["ranks"]),
                                                         r["wall_s"]), flush=True)
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------------
# Comparison with trainmem.

PRED_KEYS = ["params", "grads", "master_params", "optimizer_states", "activations", "buffers", "temporaries",
             "runtime", "peak"]


NEW_FLAGS = ("--framework", "--optimizer-impl")


def legacy_flags(flags):
    """Today's trainmem: drop the flags the HF profile adds and map --recipe amp to fp32 (its params,
    grads and optimizer states; the bf16 activations are then over-predicted)."""
    out, i = [], 0
    while i < len(flags):
        if flags[i] in NEW_FLAGS:
            i += 2
            continue
        if flags[i] == "--recipe" and flags[i + 1] == "amp":
            out += ["--recipe", "fp32"]
            i += 2
            continue
        out.append(flags[i])
        i += 1
    return out


def predict(trainmem, r, legacy=False):
    flags = legacy_flags(r["trainmem_flags"]) if legacy else r["trainmem_flags"]
    cmd = [trainmem, "estimate"] + flags + ["--format", "json"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    except OSError as e:
        sys.exit("cannot run %s: %s" % (trainmem, e))
    if p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        return None, (msg[0] if msg else "exit %d" % p.returncode)
    try:
        return json.loads(p.stdout), None
    except ValueError as e:
        return None, "bad json: %s" % e


def load_results(results, subset):
    names = [c["name"] for c in select(subset)]
    out = []
    for n in names:
        path = result_path(results, n)
        if os.path.exists(path):
            with open(path) as f:
                out.append(json.load(f))
    return out


def compare_rows(trainmem, results, subset, legacy=False):
    rows = []
    for r in load_results(results, subset):
        fw = "hf" if MODELS[r["config"]["model"]]["kind"] == "hf" else "megatron"
        row = {"name": r["name"], "framework": fw, "measured": r["measured"]["max_peak_bytes"],
               "phase": r["measured"]["ranks"][0]["phase"], "categories": r["measured"]["ranks"][0]["categories"],
               "predicted": None, "error_pct": None, "status": "ok", "pred_bytes": None}
        pred, err = predict(trainmem, r, legacy)
        if pred is None:
            row["status"] = "unsupported: " + err
        else:
            row["predicted"] = pred.get("max_peak_bytes")
            row["pred_bytes"] = pred["ranks"][0].get("bytes", {}) if pred.get("ranks") else {}
            row["error_pct"] = 100.0 * (row["predicted"] - row["measured"]) / row["measured"]
        rows.append(row)
    return rows


def summary(rows):
    out = {}
    for fw in sorted({r["framework"] for r in rows}):
        errs = [abs(r["error_pct"]) for r in rows if r["framework"] == fw and r["error_pct"] is not None]
        uns = sum(1 for r in rows if r["framework"] == fw and r["error_pct"] is None)
        out[fw] = {"n": len(errs), "unsupported": uns,
                   "median_abs_error_pct": statistics.median(errs) if errs else None,
                   "max_abs_error_pct": max(errs) if errs else None}
    return out


def cmd_compare(args):
    rows = compare_rows(args.trainmem, args.results, args.subset, args.legacy)
    if not rows:
        print("no results under %s (run `lab.py run` first)" % args.results)
        return 2
    print("%-58s %12s %12s %8s  %s" % ("config", "measured", "predicted", "err%", "status"))
    bad = 0
    for r in rows:
        if r["error_pct"] is None:
            print("%-58s %12d %12s %8s  %s" % (r["name"], r["measured"], "-", "-", r["status"]))
            continue
        flag = ""
        if abs(r["error_pct"]) > args.bound:
            bad += 1
            flag = "  > %.1f%%" % args.bound
        print("%-58s %12d %12d %+8.2f%s" % (r["name"], r["measured"], r["predicted"], r["error_pct"], flag))
    for fw, s in summary(rows).items():
        if s["n"]:
            print("%-9s n=%d median |err| %.2f%%  max |err| %.2f%%  unsupported %d" % (
                fw, s["n"], s["median_abs_error_pct"], s["max_abs_error_pct"], s["unsupported"]))
        else:
            print("%-9s n=0 (all %d unsupported by this trainmem)" % (fw, s["unsupported"]))
    if bad:
        print("%d configuration(s) outside +-%.1f%%" % (bad, args.bound))
        return 1
    uns = sum(1 for r in rows if r["error_pct"] is None)
    if uns and not args.allow_unsupported:
        print("%d configuration(s) unsupported by this trainmem (--allow-unsupported to accept)" % uns)
        return 2
    return 0


def fmt_mib(b):
    return "%.3f" % (b / 2**20) if b is not None else "-"


def cmd_render(args):
    rows = compare_rows(args.trainmem, args.results, "full") if args.trainmem else []
    legacy = compare_rows(args.trainmem, args.results, "full", legacy=True) if args.trainmem else []
    leg = {r["name"]: r for r in legacy}
    results = load_results(args.results, "full")
    vers = results[0]["versions"] if results else versions()
    by = {r["name"]: r for r in rows}
    L = ["# Accuracy against measured PyTorch / Hugging Face training steps", "",
         "Generated by `python3 tools/groundtruth/lab.py render --trainmem %s` from the results in "
         "`tools/groundtruth/results/` (regenerate those with `python3 tools/groundtruth/lab.py run --subset full`)."
         % (args.trainmem or "PATH"), "",
         "Versions: " + ", ".join("%s %s" % kv for kv in sorted(vers.items())), "",
         "Measured: per-rank peak of allocated bytes over two training steps on CPU (distributed: the third of three), every allocation replayed "
         "from torch.profiler memory events (exact: the replay equals the allocator's running total at every "
         "event), CUDA's 512-byte block rounding emulated, host-resident optimizer `step` scalars excluded. "
         "Predicted: `trainmem estimate <flags> --format json`, max_peak_bytes. MiB = 2^20 bytes.", ""]
    for title, rs in (("## Summary", rows), ("## Summary, legacy (today's flags only)", legacy)):
        if not rs:
            continue
        L += [title, "", "| framework | configs | median abs error | max abs error | unsupported |",
              "|---|---|---|---|---|"]
        for fw, s in summary(rs).items():
            L.append("| %s | %d | %s | %s | %d |" % (
                fw, s["n"], "-" if s["median_abs_error_pct"] is None else "%.2f%%" % s["median_abs_error_pct"],
                "-" if s["max_abs_error_pct"] is None else "%.2f%%" % s["max_abs_error_pct"], s["unsupported"]))
        L.append("")
    L += ["## Per configuration", "",
          "Measured categories at the peak (rank 0), MiB: P params, M master params, G grads, O optimizer states, "
          "B buffers, I inputs, A saved activations, T temporaries. Predicted categories from trainmem in brackets.",
          "`legacy` is the same binary with `--framework`/`--optimizer-impl` dropped and `--recipe amp` "
          "read as fp32 (`lab.py compare --legacy`): today's paper-formula prediction, for reference.",
          "", "| config | phase at peak | measured MiB | predicted MiB | error | legacy error | P | M | G | O | B | I | A | T |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keymap = [("params", "params"), ("master_params", "master_params"), ("grads", "grads"),
              ("optimizer_states", "optimizer_states"), ("buffers", "buffers"), ("inputs", None),
              ("activations", "activations"), ("temporaries", "temporaries")]
    for r in results:
        cat = r["measured"]["ranks"][0]["categories"]
        row = by.get(r["name"])
        pb = row["pred_bytes"] if row and row["pred_bytes"] else None
        cells = []
        for mk, pk in keymap:
            s = fmt_mib(cat.get(mk, 0))
            if pb is not None and pk is not None and pk in pb:
                s += " [%s]" % fmt_mib(pb[pk])
            cells.append(s)
        if row is None:
            pred, err = "-", "-"
        elif row["error_pct"] is None:
            import re
            flag = re.search(r"--[a-z0-9-]+", row["status"])
            pred, err = "-", "unsupported" + (" (%s)" % flag.group(0) if flag else "")
        else:
            pred, err = fmt_mib(row["predicted"]), "%+.2f%%" % row["error_pct"]
        lr = leg.get(r["name"])
        lerr = "-" if lr is None or lr["error_pct"] is None else "%+.2f%%" % lr["error_pct"]
        L.append("| %s | %s | %s | %s | %s | %s | %s |" % (r["name"], r["measured"]["ranks"][0]["phase"],
                                                          fmt_mib(r["measured"]["max_peak_bytes"]), pred, err, lerr,
                                                          " | ".join(cells)))
    L.append("")
    findings = os.path.join(HERE, "FINDINGS.md")
    if os.path.exists(findings):
        with open(findings) as f:
            L.append(f.read())
    with open(args.out, "w") as f:
        f.write("\n".join(L) + "\n")
    print("wrote %s (%d configurations)" % (args.out, len(results)))
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
    return {"run": cmd_run, "compare": cmd_compare, "render": cmd_render, "detail": cmd_detail}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
