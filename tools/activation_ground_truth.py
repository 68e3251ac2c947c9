#!/usr/bin/env python3
"""Ground truth for trainmem's activation model (docs/activations.md).

Builds one transformer layer in plain PyTorch -- GPT-style (LayerNorm, GeLU 4h MLP, dropout) and
Llama-style (RMSNorm, SwiGLU, GQA, RoPE, no dropout) -- with eager attention (explicit softmax) and SDPA
(flash / fused attention), runs forward + backward for a few shapes, and measures

  saved_bytes     the bytes autograd saves for backward, from torch.autograd.graph.saved_tensors_hooks,
                  deduplicated by storage; parameters and module buffers (weights, the causal mask, RoPE
                  tables) are excluded: they are not activations;
  fwd_delta       (CUDA only) torch.cuda.memory_allocated after forward minus before, less the output;
  peak_delta      (CUDA only) torch.cuda.max_memory_allocated during forward + backward minus before.

and prints them next to trainmem's prediction (`trainmem estimate ... --format json`,
ranks[0].activations.per_layer_bytes) when a trainmem binary is given.

Two implementations of the norms and SwiGLU:
  --impl fused   autograd Functions that save what Megatron-LM / Transformer Engine's fused kernels save
                 (norm: input + fp32 rstd [+ mean]; SwiGLU: its [gate, up] input) -- what trainmem models;
  --impl plain   Hugging Face style unfused ops (fp32 upcast inside RMSNorm, silu(gate) * up), which save more.

Runs on CPU (saved-tensor bytes only; dropout uses torch.native_dropout so masks are 1-byte bool as on
GPU) or on a CUDA GPU (also the allocator deltas). Examples:

  python3 tools/activation_ground_truth.py --trainmem build/dev/tools/trainmem
  python3 tools/activation_ground_truth.py --device cuda --shapes large --format markdown
"""

import argparse
import json
import math
import subprocess
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - reported to the user
    sys.exit("activation_ground_truth.py needs PyTorch (pip install torch)")


# --------------------------------------------------------------------------------------------------------
# Fused-kernel stand-ins: exactly the tensors the fused kernels keep for backward.

class FusedLayerNorm(torch.autograd.Function):
    """Saves the input, the fp32 mean and rstd (Apex/TE fused LayerNorm)."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        x32 = x.float()
        mean = x32.mean(-1, keepdim=True)
        rstd = torch.rsqrt((x32 - mean).pow(2).mean(-1, keepdim=True) + eps)
        y = ((x32 - mean) * rstd).to(x.dtype) * weight + bias
        ctx.save_for_backward(x, weight, mean, rstd)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, mean, rstd = ctx.saved_tensors
        x32 = x.float()
        xhat = (x32 - mean) * rstd
        dy32 = dy.float()
        dxhat = dy32 * weight.float()
        n = x.shape[-1]
        dx = rstd / n * (n * dxhat - dxhat.sum(-1, keepdim=True) - xhat * (dxhat * xhat).sum(-1, keepdim=True))
        dims = tuple(range(dy.dim() - 1))
        dw = (dy32 * xhat).sum(dims).to(weight.dtype)
        db = dy32.sum(dims).to(weight.dtype)
        return dx.to(x.dtype), dw, db, None


class FusedRMSNorm(torch.autograd.Function):
    """Saves the input and the fp32 rstd (TE / Apex fused RMSNorm)."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        x32 = x.float()
        rstd = torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
        y = (x32 * rstd).to(x.dtype) * weight
        ctx.save_for_backward(x, weight, rstd)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, rstd = ctx.saved_tensors
        x32 = x.float()
        xhat = x32 * rstd
        dy32 = dy.float()
        dxhat = dy32 * weight.float()
        n = x.shape[-1]
        dx = rstd * (dxhat - xhat * (dxhat * xhat).sum(-1, keepdim=True) / n)
        dims = tuple(range(dy.dim() - 1))
        dw = (dy32 * xhat).sum(dims).to(weight.dtype)
        return dx.to(x.dtype), dw, None


class FusedSwiGLU(torch.autograd.Function):
    """Saves only the fc1 output [gate, up] and recomputes silu in backward (Megatron bias_swiglu)."""

    @staticmethod
    def forward(ctx, y):
        ctx.save_for_backward(y)
        gate, up = y.chunk(2, dim=-1)
        return F.silu(gate) * up

    @staticmethod
    def backward(ctx, dout):
        (y,) = ctx.saved_tensors
        gate, up = y.float().chunk(2, dim=-1)
        sig = torch.sigmoid(gate)
        silu = gate * sig
        dgate = dout.float() * up * sig * (1 + gate * (1 - sig))
        dup = dout.float() * silu
        return torch.cat([dgate, dup], dim=-1).to(y.dtype)


def dropout(x, p, training=True):
    # torch.native_dropout keeps a 1-byte bool mask on every device (F.dropout on CPU would keep a
    # float noise tensor instead; on CUDA it calls native_dropout).
    if p <= 0.0 or not training:
        return x
    return torch.native_dropout(x, p, True)[0]


# --------------------------------------------------------------------------------------------------------
# Layers. Activations are [b, s, h].

class Layer(torch.nn.Module):
    def __init__(self, style, h, heads, kv_heads, ffn, attention, dropout_p, impl, seq, device, dtype):
        super().__init__()
        self.style, self.h, self.heads, self.kv = style, h, heads, kv_heads
        self.d = h // heads
        self.attention, self.p, self.impl = attention, dropout_p, impl
        kw = dict(device=device, dtype=dtype)
        bias = style == "gpt"
        self.qkv = torch.nn.Linear(h, (heads + 2 * kv_heads) * self.d, bias=bias, **kw)
        self.proj = torch.nn.Linear(heads * self.d, h, bias=bias, **kw)
        gated = style == "llama"
        self.fc1 = torch.nn.Linear(h, (2 if gated else 1) * ffn, bias=bias, **kw)
        self.fc2 = torch.nn.Linear(ffn, h, bias=bias, **kw)
        self.n1_w = torch.nn.Parameter(torch.ones(h, **kw))
        self.n2_w = torch.nn.Parameter(torch.ones(h, **kw))
        if style == "gpt":
            self.n1_b = torch.nn.Parameter(torch.zeros(h, **kw))
            self.n2_b = torch.nn.Parameter(torch.zeros(h, **kw))
        self.register_buffer("causal", torch.ones(seq, seq, device=device, dtype=torch.bool).triu(1))
        if style == "llama":
            inv = 1.0 / (10000 ** (torch.arange(0, self.d, 2, device=device, dtype=torch.float32) / self.d))
            ang = torch.outer(torch.arange(seq, device=device, dtype=torch.float32), inv)
            emb = torch.cat([ang, ang], dim=-1)
            self.register_buffer("cos", emb.cos().to(dtype))
            self.register_buffer("sin", emb.sin().to(dtype))

    def norm(self, x, which):
        w = self.n1_w if which == 1 else self.n2_w
        if self.style == "gpt":
            b = self.n1_b if which == 1 else self.n2_b
            if self.impl == "fused":
                return FusedLayerNorm.apply(x, w, b, 1e-5)
            return F.layer_norm(x, (self.h,), w, b, 1e-5)
        if self.impl == "fused":
            return FusedRMSNorm.apply(x, w, 1e-5)
        x32 = x.float()  # Hugging Face LlamaRMSNorm
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-5)
        return w * x32.to(x.dtype)

    def rope(self, t):  # t: [b, heads, s, d]; rotate_half form (Hugging Face)
        half = t.shape[-1] // 2
        rot = torch.cat([-t[..., half:], t[..., :half]], dim=-1)
        return t * self.cos + rot * self.sin

    def attn(self, x):
        b, s, _ = x.shape
        qkv = self.qkv(x)
        q, k, v = qkv.split([self.heads * self.d, self.kv * self.d, self.kv * self.d], dim=-1)
        # A saved view of the fused QKV output would keep the whole [q, k, v] buffer alive; copy V out so the
        # measurement counts V alone (Q and K are new tensors after RoPE / scaling anyway).
        v = v.contiguous()
        q = q.view(b, s, self.heads, self.d).transpose(1, 2)
        k = k.view(b, s, self.kv, self.d).transpose(1, 2)
        v = v.view(b, s, self.kv, self.d).transpose(1, 2)
        if self.style == "llama":
            q, k = self.rope(q), self.rope(k)
        if self.attention == "eager":
            rep = self.heads // self.kv
            q = q.contiguous()
            k = (k.repeat_interleave(rep, dim=1) if rep > 1 else k).contiguous()
            v = (v.repeat_interleave(rep, dim=1) if rep > 1 else v).contiguous()
            scores = torch.matmul(q * (1.0 / math.sqrt(self.d)), k.transpose(-1, -2))
            scores = scores.masked_fill(self.causal, float("-inf"))
            probs = torch.softmax(scores, dim=-1)
            probs = dropout(probs, self.p)
            ctx = torch.matmul(probs, v)
            ctx = ctx.transpose(1, 2).reshape(b, s, self.heads * self.d)
        else:
            if self.kv != self.heads:
                try:
                    out = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.p, enable_gqa=True)
                except TypeError:  # torch < 2.5: no enable_gqa; expand K/V (saves the expanded copies)
                    rep = self.heads // self.kv
                    out = F.scaled_dot_product_attention(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1),
                                                         is_causal=True, dropout_p=self.p)
            else:
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.p)
            ctx = out.transpose(1, 2).reshape(b, s, self.heads * self.d)
        return dropout(self.proj(ctx), self.p)

    def mlp(self, x):
        y = self.fc1(x)
        if self.style == "gpt":
            a = F.gelu(y)
        elif self.impl == "fused":
            a = FusedSwiGLU.apply(y)
        else:
            gate, up = y.chunk(2, dim=-1)
            a = F.silu(gate) * up
        return dropout(self.fc2(a), self.p)

    def forward(self, x):
        x = x + self.attn(self.norm(x, 1))
        return x + self.mlp(self.norm(x, 2))


# --------------------------------------------------------------------------------------------------------

def storage_key(t):
    try:
        st = t.untyped_storage()
    except AttributeError:  # torch < 2.0
        st = t.storage()
    return (st.data_ptr(), t.device.type), st.nbytes()


def measure(layer, b, s, h, device, dtype):
    excluded = {storage_key(p)[0] for p in layer.parameters()} | {storage_key(bf)[0] for bf in layer.buffers()}
    saved = {}

    def pack(t):
        key, nbytes = storage_key(t)
        if key not in excluded and nbytes > 0:
            saved[key] = nbytes
        return t

    x = torch.randn(b, s, h, device=device, dtype=dtype, requires_grad=True)
    result = {}
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = layer(x)
    if device == "cuda":
        torch.cuda.synchronize()
        result["fwd_delta"] = torch.cuda.memory_allocated() - before - out.numel() * out.element_size()
    # The layer input x is saved by the first norm and is an activation of this layer (trainmem counts it).
    result["saved_bytes"] = sum(saved.values())
    out.backward(torch.ones_like(out))
    if device == "cuda":
        torch.cuda.synchronize()
        result["peak_delta"] = torch.cuda.max_memory_allocated() - before
    return result


def trainmem_prediction(binary, style, h, heads, kv, ffn, s, b, attention, p):
    if not binary:
        return None
    args = [binary, "estimate", "--num-layers", "1", "--hidden-size", str(h), "--num-attention-heads", str(heads),
            "--num-query-groups", str(kv), "--ffn-hidden-size", str(ffn), "--seq-length", str(s),
            "--micro-batch-size", str(b), "--attention", attention, "--attention-dropout", str(p),
            "--hidden-dropout", str(p), "--format", "json"]
    if style == "llama":
        args += ["--normalization", "RMSNorm", "--swiglu", "--position-embedding-type", "rope", "--disable-bias-linear"]
    else:
        args += ["--max-position-embeddings", str(s)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["ranks"][0]["activations"]["per_layer_bytes"]


SHAPES = {
    # (style, h, heads, kv_heads, ffn, s, b)
    "small": [("gpt", 256, 4, 4, 1024, 128, 2), ("llama", 256, 8, 2, 688, 128, 2)],
    "large": [("gpt", 2048, 16, 16, 8192, 2048, 1), ("gpt", 4096, 32, 32, 16384, 2048, 1),
              ("llama", 4096, 32, 8, 14336, 4096, 1), ("llama", 2048, 16, 4, 5632, 8192, 1)],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    ap.add_argument("--shapes", default="small", choices=sorted(SHAPES))
    ap.add_argument("--impl", default="both", choices=["fused", "plain", "both"])
    ap.add_argument("--attention", default="both", choices=["eager", "flash", "both"])
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--trainmem", default=None, help="path of the trainmem binary for the predicted column")
    ap.add_argument("--format", default="table", choices=["table", "markdown", "json"])
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device visible to PyTorch")
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    if args.trainmem and args.dtype != "bf16":
        sys.exit("--trainmem predicts bf16 activations here; use --dtype bf16")
    torch.manual_seed(0)
    impls = ["fused", "plain"] if args.impl == "both" else [args.impl]
    attns = ["eager", "flash"] if args.attention == "both" else [args.attention]
    rows = []
    for style, h, heads, kv, ffn, s, b in SHAPES[args.shapes]:
        p = 0.1 if style == "gpt" else 0.0
        for attention in attns:
            predicted = trainmem_prediction(args.trainmem, style, h, heads, kv, ffn, s, b, attention, p)
            for impl in impls:
                layer = Layer(style, h, heads, kv, ffn, attention, p, impl, s, args.device, dtype)
                m = measure(layer, b, s, h, args.device, dtype)
                row = dict(style=style, h=h, heads=heads, kv=kv, ffn=ffn, s=s, b=b, attention=attention, impl=impl,
                           dropout=p, device=args.device, predicted=predicted, **m)
                rows.append(row)
                del layer
                if args.device == "cuda":
                    torch.cuda.empty_cache()
    if args.format == "json":
        print(json.dumps({"torch": torch.__version__, "rows": rows}, indent=2))
        return
    cols = ["style", "h", "heads", "kv", "ffn", "s", "b", "attention", "impl", "predicted", "saved_bytes", "ratio",
            "fwd_delta", "peak_delta"]
    for r in rows:
        r["ratio"] = "%.4f" % (r["saved_bytes"] / r["predicted"]) if r["predicted"] else "-"
    if args.format == "markdown":
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
        for r in rows:
            print("| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |")
    else:
        print("# torch %s on %s" % (torch.__version__, args.device))
        print("".join("%14s" % c for c in cols))
        for r in rows:
            print("".join("%14s" % str(r.get(c, "-")) for c in cols))


if __name__ == "__main__":
    main()
