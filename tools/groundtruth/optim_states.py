#!/usr/bin/env python3
"""Bytes the low-bit optimizers really allocate per parameter tensor (CPU, state creation only, no step).

Checks the formats of sim/accounting/recipe.cpp (kOptimizers) against the libraries themselves:
torchao AdamW4bit / AdamW8bit / AdamWFp8 (_new_buffer for m and v) and bitsandbytes AdamW8bit (init_state).
Neither is in requirements.txt; measured with `pip install --no-deps --target DIR torchao==0.18.0
bitsandbytes==0.50.2` and PYTHONPATH=DIR. The expected numbers are in tests/sim/accounting/optimizer_state_test.cpp.
"""
import torch


def storage_bytes(t):
    # torchao's state subclasses hold codes, scale (and qmap) tensors; count every storage once.
    if hasattr(t, "tensor_attrs"):
        return sum(getattr(t, a).untyped_storage().nbytes() for a in t.tensor_attrs)
    return t.untyped_storage().nbytes()


SHAPES = [((4096, 4096), torch.float32), ((4095,), torch.float32), ((4096,), torch.float32),
          ((4160,), torch.float32), ((4000,), torch.bfloat16)]


def torchao_rows():
    import torchao
    from torchao.optim import AdamW4bit, AdamW8bit, AdamWFp8
    print("torchao", torchao.__version__)
    for cls in (AdamW4bit, AdamW8bit, AdamWFp8):
        for shape, dtype in SHAPES:
            p = torch.nn.Parameter(torch.zeros(shape, dtype=dtype))
            opt = cls([p])
            m, v = opt._new_buffer(p, True), opt._new_buffer(p, False)  # exp_avg (signed), exp_avg_sq
            print(f"  {cls.__name__:10} {str(shape):14} {str(dtype)[6:]:9} {storage_bytes(m) + storage_bytes(v):>10}")


def bnb_rows():
    import bitsandbytes as bnb
    print("bitsandbytes", bnb.__version__, "(qmap1/qmap2 are the optimizer's shared name2qmap maps: not counted)")
    for shape, dtype in SHAPES:
        p = torch.nn.Parameter(torch.zeros(shape, dtype=dtype))
        opt = bnb.optim.AdamW8bit([p])
        opt.init_state(opt.param_groups[0], p, 0, 0)
        own = sum(t.untyped_storage().nbytes() for k, t in opt.state[p].items()
                  if torch.is_tensor(t) and not k.startswith("qmap"))
        print(f"  {'AdamW8bit':10} {str(shape):14} {str(dtype)[6:]:9} {own:>10}")


if __name__ == "__main__":
    print("torch", torch.__version__)
    torchao_rows()
    bnb_rows()
