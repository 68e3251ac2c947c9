"""The ground-truth lab's catalogue: the models (tiny hidden sizes, real vocabularies), the configurations
(precision, optimizer and implementation, checkpointing, LoRA, batch, sequence, accumulation, distributed), the
trainmem flags that describe each one, and where results live. Used by lab.py (running) and compare.py."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
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
      attn="sdpa", dist="none", dp=1, seqs=None):
    # seqs: one sequence length per step (variable-length batches; trainmem is given the longest).
    if seqs:
        seq = max(seqs)
    parts = [model, recipe, opt, impl, ("var" + ".".join(map(str, seqs))) if seqs else "s%d" % seq, "b%d" % mbs]
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
    c = dict(name="-".join(parts), model=model, recipe=recipe, optimizer=opt, impl=impl, seq=seq, mbs=mbs,
             accum=accum, ckpt=ckpt, lora=lora, attn=attn, dist=dist, dp=dp)
    if seqs:
        c["seqs"] = list(seqs)
    return c


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
    # FSDP's mixed-precision policy over fp32 parameters (trainmem --recipe fsdp-mp).
    cs.append(C("llama", "fsdp-mp", "adamw", "foreach", seq=128, mbs=1, dist="fsdp-full", dp=2))
    seen = set()
    for c in cs:
        assert c["name"] not in seen, c["name"]
        seen.add(c["name"])
    return cs


def reserved_catalogue():
    """`lab.py reserved`: single-process configurations replayed through the caching-allocator emulator
    (allocator.py): fixed shapes from the catalogue, and variable sequence lengths across steps, where
    the allocator's fragmentation comes from."""
    by = {c["name"]: c for c in catalogue()}
    cs = [by[n] for n in ("llama-bf16-adamw-foreach-s128-b1", "llama-bf16-adamw-foreach-s512-b1",
                          "llama-bf16-adamw-foreach-s2048-b1", "qwen2-bf16-adamw-for-loop-s128-b2",
                          "qwen2-bf16-adamw-fused-s512-b1", "gpt2-fp32-adamw-for-loop-s128-b2",
                          "llama-bf16-adamw-foreach-s256-b2-ckpt", "megatron-llama-megatron-adamw-fused-s128-b2-flash")]
    for model in ("llama", "qwen2"):
        for seqs in ((512, 128, 2048, 1024), (128, 512, 1024, 2048), (2048, 1024, 512, 128)):
            cs.append(C(model, "bf16", "adamw", "foreach", mbs=1, seqs=seqs))
    cs.append(C("gpt2", "fp32", "adamw", "foreach", mbs=2, seqs=(128, 512, 256, 1024)))
    # Slowly growing lengths: each step's tensors are a little larger than the last step's blocks.
    cs.append(C("llama", "bf16", "adamw", "foreach", mbs=1, seqs=(1024, 1280, 1536, 1792, 2048)))
    return cs


CI_SUBSET = [
    "gpt2-fp32-adamw-for-loop-s128-b2", "llama-bf16-adamw-for-loop-s128-b2", "qwen2-amp-adamw-for-loop-s128-b2",
    "llama-bf16-adamw-foreach-s128-b1", "llama-fp32-adamw-fused-s128-b1", "llama-bf16-sgd-momentum-for-loop-s128-b1",
    "gpt2-bf16-adamw-for-loop-s128-b2-eager", "llama-bf16-adamw-foreach-s256-b2-ga2",
    "llama-bf16-adamw-foreach-s256-b2-ckpt", "llama-bf16-adamw-for-loop-s256-b2-lora8",
    "megatron-llama-megatron-adamw-fused-s128-b2-flash", "megatron-gpt-megatron-adamw-fused-s128-b2-flash",
    "llama-bf16-adamw-foreach-s128-b1-ddp-dp2", "llama-bf16-adamw-foreach-s128-b1-zero1-dp2",
    "llama-bf16-adamw-foreach-s128-b1-fsdp-full-dp2",
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

RECIPE_FLAG = {"fp32": "fp32", "bf16": "bf16", "amp": "amp", "megatron": "mixed-18", "fsdp-mp": "fsdp-mp"}
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


def versions():
    import torch
    v = {"torch": torch.__version__, "python": sys.version.split()[0]}
    for mod in ("transformers", "peft", "accelerate"):
        try:
            v[mod] = __import__(mod).__version__
        except ImportError:
            v[mod] = None
    return v


def result_path(results, name, device="cpu"):
    return os.path.join(results, name + (".json" if device == "cpu" else "." + device + ".json"))
