"""Megatron-style fused-kernel stand-ins and a small Megatron-shaped GPT / Llama model.

Folded in from tools/activation_ground_truth.py.  The autograd Functions save exactly what the
Transformer Engine / Apex fused kernels save (norm: input + fp32 rstd [+ mean]; SwiGLU: its fc1
output; cross entropy: the fp32 softmax, a bool target mask and the int64 masked targets), and the
linear layers accumulate their weight gradient straight into a persistent fp32 ``main_grad`` buffer
(Megatron's gradient-accumulation fusion), so no ``.grad`` tensor exists for them.
"""

import math

import torch
import torch.nn.functional as F


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

class LinearWGradFusion(torch.autograd.Function):
    """Megatron's LinearWithGradAccumulationAndAsyncCommunication with gradient_accumulation_fusion:
    saves the input (and uses the weight); the weight gradient is accumulated in fp32 straight into
    weight.main_grad, so autograd returns no gradient for the weight."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        ctx.bias = bias
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        dx = dy.matmul(weight)
        x2 = x.reshape(-1, x.shape[-1])
        dy2 = dy.reshape(-1, dy.shape[-1])
        if hasattr(weight, "main_grad"):
            weight.main_grad.addmm_(dy2.t().float(), x2.float())  # fused wgrad GEMM into fp32 main_grad
            dw = None
        else:
            dw = dy2.t().matmul(x2)
        db = dy2.sum(0) if ctx.has_bias else None
        return dx, dw, db


class MLinear(torch.nn.Module):
    def __init__(self, fan_in, fan_out, bias=True, device=None, dtype=None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(fan_out, fan_in, device=device, dtype=dtype).normal_(0, 0.02))
        self.bias = torch.nn.Parameter(torch.zeros(fan_out, device=device, dtype=dtype)) if bias else None

    def forward(self, x):
        return LinearWGradFusion.apply(x, self.weight, self.bias)


class VocabCrossEntropy(torch.autograd.Function):
    """Megatron's vocab-parallel cross entropy (tp = 1): logits.float(), max-subtract, exp and
    normalise in place, save the fp32 softmax [tokens, V], a bool target mask and int64 targets;
    backward edits the saved softmax in place."""

    @staticmethod
    def forward(ctx, logits, target):
        x = logits.float()
        x.sub_(x.max(dim=-1, keepdim=True)[0])
        x.exp_()
        sum_exp = x.sum(dim=-1)
        x.div_(sum_exp.unsqueeze(-1))
        target_mask = target < 0
        masked_target = target.clone()
        masked_target[target_mask] = 0
        loss = -torch.log(x.gather(-1, masked_target.unsqueeze(-1)).squeeze(-1))
        ctx.save_for_backward(x, target_mask, masked_target)
        return loss

    @staticmethod
    def backward(ctx, dloss):
        softmax, target_mask, masked_target = ctx.saved_tensors
        grad = softmax
        grad.scatter_add_(-1, masked_target.unsqueeze(-1),
                          -(1.0 - target_mask.float()).unsqueeze(-1))
        grad.mul_(dloss.unsqueeze(-1))
        return grad, None


class Layer(torch.nn.Module):
    def __init__(self, style, h, heads, kv_heads, ffn, attention, dropout_p, impl, seq, device, dtype):
        super().__init__()
        self.style, self.h, self.heads, self.kv = style, h, heads, kv_heads
        self.d = h // heads
        self.attention, self.p, self.impl = attention, dropout_p, impl
        # CPU has no flash kernel with dropout (SDPA would fall back to the math path, which saves the
        # probabilities); CUDA's flash kernel keeps only an RNG state.  Flash runs without attention dropout.
        self.attn_p = dropout_p if attention == "eager" else 0.0
        kw = dict(device=device, dtype=dtype)
        bias = style == "gpt"
        self.qkv = MLinear(h, (heads + 2 * kv_heads) * self.d, bias=bias, **kw)
        self.proj = MLinear(heads * self.d, h, bias=bias, **kw)
        gated = style == "llama"
        self.fc1 = MLinear(h, (2 if gated else 1) * ffn, bias=bias, **kw)
        self.fc2 = MLinear(ffn, h, bias=bias, **kw)
        self.n1_w = torch.nn.Parameter(torch.ones(h, **kw))
        self.n2_w = torch.nn.Parameter(torch.ones(h, **kw))
        if style == "gpt":
            self.n1_b = torch.nn.Parameter(torch.zeros(h, **kw))
            self.n2_b = torch.nn.Parameter(torch.zeros(h, **kw))
        if attention == "eager":
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
            probs = dropout(probs, self.attn_p)
            ctx = torch.matmul(probs, v)
            ctx = ctx.transpose(1, 2).reshape(b, s, self.heads * self.d)
        else:
            if self.kv != self.heads:
                try:
                    out = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.attn_p, enable_gqa=True)
                except TypeError:  # torch < 2.5: no enable_gqa; expand K/V (saves the expanded copies)
                    rep = self.heads // self.kv
                    out = F.scaled_dot_product_attention(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1),
                                                         is_causal=True, dropout_p=self.attn_p)
            else:
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.attn_p)
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




class MegatronModel(torch.nn.Module):
    """Embedding (+ learned positions for GPT style), N fused layers, final norm, LM head (tied for GPT
    style), Megatron cross entropy.  Activations are [b, s, h]."""

    def __init__(self, style, layers, h, heads, kv_heads, ffn, vocab, seq, attention, dropout_p, dtype,
                 max_positions=2048):
        super().__init__()
        self.style, self.p = style, dropout_p
        kw = dict(dtype=dtype)
        self.embed = torch.nn.Parameter(torch.empty(vocab, h, **kw).normal_(0, 0.02))
        self.pos = (torch.nn.Parameter(torch.empty(max_positions, h, **kw).normal_(0, 0.02))
                    if style == "gpt" else None)
        self.layers = torch.nn.ModuleList(
            Layer(style, h, heads, kv_heads, ffn, attention, dropout_p, "fused", seq, None, dtype)
            for _ in range(layers))
        self.final_w = torch.nn.Parameter(torch.ones(h, **kw))
        self.final_b = torch.nn.Parameter(torch.zeros(h, **kw)) if style == "gpt" else None
        self.head = None if style == "gpt" else torch.nn.Parameter(torch.empty(vocab, h, **kw).normal_(0, 0.02))
        self.checkpoint = False
        self.on_logits = None

    def forward(self, ids, labels):
        x = F.embedding(ids, self.embed)
        if self.pos is not None:
            x = x + self.pos[: ids.shape[1]]
        x = dropout(x, self.p)
        for layer in self.layers:
            if self.checkpoint:
                x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        if self.final_b is not None:
            x = FusedLayerNorm.apply(x, self.final_w, self.final_b, 1e-5)
        else:
            x = FusedRMSNorm.apply(x, self.final_w, 1e-5)
        w = self.head if self.head is not None else self.embed
        logits = LinearWGradFusion.apply(x, w, None)
        if self.on_logits is not None:
            self.on_logits()
        loss = VocabCrossEntropy.apply(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        return loss.mean()
