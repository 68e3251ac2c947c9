"""CUDA-faithful behaviour on CPU: dropout kernels and autocast op lists.

Two things differ between CPU and CUDA eager PyTorch in ways that change memory:

1. Dropout.  at::dropout uses the fused native_dropout kernel (output + 1-byte bool mask saved for
   backward) only for CUDA/XPU tensors; on CPU it multiplies by a float noise tensor of the input's
   dtype and saves that.  We route F.dropout / torch.dropout / nn.Dropout to torch.native_dropout,
   exactly what CUDA runs (p == 0 or eval: identity, as on CUDA).

2. Autocast.  torch.autocast('cpu', bf16) and torch.autocast('cuda', bf16) share the lower-precision
   list that matters for transformers (linear, matmul, mm, bmm, baddbmm, addmm,
   scaled_dot_product_attention) and the same weight cache (fp32 leaf parameters cast once per
   autocast region and kept alive), but CUDA's fp32 lists are much longer: softmax, log_softmax,
   layer_norm, group_norm, pow, rsqrt, exp, log, sum, cumsum, prod, ... run (and return) fp32 under
   CUDA autocast and run in bf16 under CPU autocast.  We run CPU autocast for the lower-precision
   list, and wrappers installed over the torch / torch.nn.functional / Tensor functions apply CUDA's
   fp32 rules on top (from aten/src/ATen/autocast_mode.cpp,
   AT_FORALL_FP32 and AT_FORALL_FP32_SET_OPT_DTYPE):
     fp32:               cast bf16/fp16 tensor arguments to fp32 (an autograd-visible copy, as on CUDA);
     fp32_set_opt_dtype: pass dtype=torch.float32 when the caller gave no dtype (no input copy, as on CUDA).
   Rules apply only while autocast is enabled.  They are installed by patching the functions for the
   whole run rather than with a TorchFunctionMode: torch.utils.checkpoint's recomputation inside
   backward does not see a TorchFunctionMode (measured on torch 2.15), while it does re-enter autocast.
"""

import contextlib

import torch
import torch.nn.functional as F

_LOW = (torch.bfloat16, torch.float16)

FP32 = {
    F: ["layer_norm", "group_norm", "softplus", "cross_entropy", "nll_loss", "mse_loss", "l1_loss",
        "smooth_l1_loss", "kl_div", "binary_cross_entropy_with_logits", "cosine_similarity"],
    torch: ["layer_norm", "group_norm", "pow", "rsqrt", "exp", "log", "log1p", "expm1", "log2", "log10",
            "reciprocal", "acos", "asin", "cosh", "sinh", "tan", "erfinv", "logsumexp", "cdist", "dist"],
    torch.Tensor: ["pow", "__pow__", "__rpow__", "rsqrt", "exp", "log", "log1p", "reciprocal", "logsumexp"],
}
FP32_SET_OPT_DTYPE = {
    F: ["softmax", "log_softmax"],
    torch: ["softmax", "log_softmax", "sum", "prod", "cumsum", "cumprod"],
    torch.Tensor: ["softmax", "log_softmax", "sum", "prod", "cumsum", "cumprod"],
    torch.linalg: ["vector_norm", "matrix_norm"],
}


def _up(x):
    if isinstance(x, torch.Tensor) and x.dtype in _LOW:
        return x.float()
    if isinstance(x, (list, tuple)):
        return type(x)(_up(y) for y in x)
    return x


def _is_low(args):
    for a in args:
        if isinstance(a, torch.Tensor):
            return a.dtype in _LOW
    return False


def _wrap_fp32(orig):
    def f(*args, **kwargs):
        if torch.is_autocast_enabled("cpu"):
            args = _up(args)
            kwargs = {k: _up(v) for k, v in kwargs.items()}
        return orig(*args, **kwargs)
    f.__wrapped__ = orig
    return f


def _wrap_set_opt_dtype(orig):
    def f(*args, **kwargs):
        if torch.is_autocast_enabled("cpu") and kwargs.get("dtype") is None and _is_low(args):
            kwargs = dict(kwargs, dtype=torch.float32)
        return orig(*args, **kwargs)
    f.__wrapped__ = orig
    return f


def _native_dropout(input, p=0.5, training=True, inplace=False):
    if training and 0.0 < p < 1.0 and input.numel() > 0:
        out = torch.native_dropout(input, p, True)[0]
        if inplace:
            return input.copy_(out)
        return out
    return input


@contextlib.contextmanager
def patch_cuda_rules():
    """For the duration: F.dropout -> native_dropout, and CUDA autocast's fp32 rules (active only
    while autocast is enabled).  Modules look these functions up at call time."""
    saved = [(F, "dropout", F.dropout)]
    F.dropout = _native_dropout
    for table, wrap in ((FP32, _wrap_fp32), (FP32_SET_OPT_DTYPE, _wrap_set_opt_dtype)):
        for owner, names in table.items():
            for n in names:
                orig = getattr(owner, n)
                saved.append((owner, n, orig))
                setattr(owner, n, wrap(orig))
    try:
        yield
    finally:
        for owner, n, orig in reversed(saved):
            setattr(owner, n, orig)


@contextlib.contextmanager
def cuda_faithful(enabled, dtype=torch.bfloat16, device="cpu"):
    """Autocast (bf16) for the forward when enabled; on CPU the CUDA rules come from patch_cuda_rules()
    (they test torch.is_autocast_enabled("cpu"), so on a CUDA device real CUDA autocast runs alone)."""
    if enabled:
        with torch.autocast(device, dtype=dtype):
            yield
    else:
        yield
