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
   list and a TorchFunctionMode applies CUDA's fp32 rules on top (from aten/src/ATen/autocast_mode.cpp,
   AT_FORALL_FP32 and AT_FORALL_FP32_SET_OPT_DTYPE):
     fp32:               cast bf16/fp16 tensor arguments to fp32 (an autograd-visible copy, as on CUDA);
     fp32_set_opt_dtype: pass dtype=torch.float32 when the caller gave no dtype (no input copy, as on CUDA).
   Rules apply only while autocast is enabled, so the mode can also wrap backward (recomputation of
   checkpointed layers re-enters autocast by itself).
"""

import contextlib

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_LOW = (torch.bfloat16, torch.float16)

FP32 = {
    F.layer_norm, torch.layer_norm, F.group_norm, torch.group_norm, torch.pow, torch.Tensor.pow,
    torch.Tensor.__pow__, torch.Tensor.__rpow__, torch.rsqrt, torch.Tensor.rsqrt, torch.exp, torch.Tensor.exp,
    torch.log, torch.Tensor.log, torch.log1p, torch.Tensor.log1p, torch.expm1, torch.log2, torch.log10,
    torch.reciprocal, torch.Tensor.reciprocal, torch.acos, torch.asin, torch.cosh, torch.sinh, torch.tan,
    torch.erfinv, F.softplus, F.cross_entropy, F.nll_loss, F.mse_loss, F.l1_loss, F.smooth_l1_loss,
    F.kl_div, F.binary_cross_entropy_with_logits, torch.logsumexp, torch.Tensor.logsumexp, torch.cdist,
    torch.dist, F.cosine_similarity,
}
FP32_SET_OPT_DTYPE = {
    F.softmax, torch.softmax, torch.Tensor.softmax, F.log_softmax, torch.log_softmax, torch.Tensor.log_softmax,
    torch.sum, torch.Tensor.sum, torch.prod, torch.Tensor.prod, torch.cumsum, torch.Tensor.cumsum,
    torch.cumprod, torch.Tensor.cumprod, torch.linalg.vector_norm, torch.linalg.matrix_norm,
}
DROPOUT = {F.dropout, torch.dropout, torch.nn.functional.dropout1d}


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


class CudaRules(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in DROPOUT:
            x = args[0] if args else kwargs["input"]
            p = kwargs.get("p", args[1] if len(args) > 1 else 0.5)
            training = kwargs.get("training", kwargs.get("train", args[2] if len(args) > 2 else True))
            if training and 0.0 < p < 1.0 and x.numel() > 0:
                return torch.native_dropout(x, p, True)[0]
            return x
        if torch.is_autocast_enabled("cpu"):
            if func in FP32_SET_OPT_DTYPE and kwargs.get("dtype") is None and _is_low(args):
                kwargs = dict(kwargs, dtype=torch.float32)
            elif func in FP32:
                args = _up(args)
                kwargs = {k: _up(v) for k, v in kwargs.items()}
        return func(*args, **kwargs)


@contextlib.contextmanager
def cuda_faithful(enabled, dtype=torch.bfloat16):
    """CUDA's dropout always; CUDA's autocast rules with bf16 when enabled."""
    with CudaRules():
        if enabled:
            with torch.autocast("cpu", dtype=dtype):
                yield
        else:
            yield


@contextlib.contextmanager
def cuda_rules_only():
    with CudaRules():
        yield
