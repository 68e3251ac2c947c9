// Framework profiles (DESIGN.md section 10): which framework's kernels, loss path, gradient lifetime and
// optimizer implementation a scenario describes. `megatron` (the default) is fused TE/Apex kernels with a
// persistent fp32 main_grad buffer; `hf` is Hugging Face transformers + Trainer on PyTorch (docs/frameworks.md).
#pragma once

#include <string_view>

namespace trainmem::sim {

enum class Framework { megatron, hf };

// PyTorch optimizer implementations (torch.optim: foreach=False, foreach=True, fused=True).
enum class OptimizerImpl { for_loop, foreach, fused };

constexpr std::string_view framework_name(Framework f) { return f == Framework::hf ? "hf" : "megatron"; }
constexpr std::string_view optimizer_impl_name(OptimizerImpl i) {
  return i == OptimizerImpl::for_loop ? "for-loop" : i == OptimizerImpl::foreach ? "foreach" : "fused";
}

// The implementation a framework uses when none is given. hf: PyTorch's default for CUDA parameters is
// foreach (torch/optim/optimizer.py _default_to_fused_or_foreach: foreach when every tensor is on CUDA,
// fused only when asked). megatron: Apex/Transformer Engine FusedAdam (megatron/core/optimizer/__init__.py).
constexpr OptimizerImpl default_optimizer_impl(Framework f) {
  return f == Framework::hf ? OptimizerImpl::foreach : OptimizerImpl::fused;
}

}  // namespace trainmem::sim
