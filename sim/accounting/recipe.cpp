#include "sim/accounting/recipe.hpp"

namespace trainmem::sim {
namespace {
using Z = ZeroStateClass;
using C = MemoryCategory;

constexpr StateTensor kBf16Params{"bf16 parameters", Dtype::bf16, Z::parameters, C::params,
                                  "the weights the forward and backward passes compute with"};
constexpr StateTensor kBf16Grads{"bf16 gradients", Dtype::bf16, Z::gradients, C::grads,
                                 "gradients produced by backward in the compute dtype"};
constexpr StateTensor kFp32MainGrads{"fp32 main_grad", Dtype::fp32, Z::gradients, C::grads,
                                     "Megatron accumulates gradients straight into an fp32 main_grad buffer "
                                     "(accumulate_allreduce_grads_in_fp32), so no bf16 gradient copy persists"};
constexpr StateTensor kFp32GradCopy{"fp32 gradient copy", Dtype::fp32, Z::optimizer, C::grads,
                                    "DeepSpeed casts the gradient partition to fp32 for the fp32 optimizer "
                                    "(single_partition_of_fp32_groups[i].grad); sharded with the optimizer states"};
constexpr StateTensor kFp32Master{"fp32 master parameters", Dtype::fp32, Z::optimizer, C::master_params,
                                  "updates of size lr*grad vanish when added to bf16 weights (8 mantissa bits), "
                                  "so the optimizer updates an fp32 copy and casts it back"};
constexpr StateTensor kFp32Params{"fp32 parameters", Dtype::fp32, Z::parameters, C::params,
                                  "full-precision training: weights are fp32"};
constexpr StateTensor kFp32Grads{"fp32 gradients", Dtype::fp32, Z::gradients, C::grads,
                                 "full-precision training: gradients are fp32"};

const std::vector<Recipe>& recipe_table() {
  static const std::vector<Recipe> table = {
      {"mixed-16",
       "zero-paper",
       "ZeRO paper accounting: bf16 params 2 + bf16 grads 2 + fp32 master 4 + Adam m,v 8 = 16 bytes",
       {kBf16Params, kBf16Grads, kFp32Master},
       Dtype::fp32},
      {"mixed-18",
       "megatron",
       "Megatron-LM: bf16 params 2 + fp32 main_grad 4 + fp32 master 4 + Adam m,v 8 = 18 bytes",
       {kBf16Params, kFp32MainGrads, kFp32Master},
       Dtype::fp32},
      {"mixed-20",
       "deepspeed",
       "DeepSpeed: bf16 params 2 + bf16 grads 2 + fp32 grad copy 4 + fp32 master 4 + Adam m,v 8 = 20 bytes",
       {kBf16Params, kBf16Grads, kFp32GradCopy, kFp32Master},
       Dtype::fp32},
      {"fp32",
       "",
       "full fp32: params 4 + grads 4 + Adam m,v 8 = 16 bytes (no separate master copy)",
       {kFp32Params, kFp32Grads},
       Dtype::fp32},
      {"bf16",
       "",
       "pure bf16, no master copy: params 2 + grads 2 + Adam m,v in bf16 4 = 8 bytes",
       {kBf16Params, kBf16Grads},
       Dtype::bf16},
  };
  return table;
}

// Recipes of the PyTorch framework profile (docs/frameworks.md), found by name but not listed by recipes(), whose
// rows (explain, what-if) describe the Megatron/DeepSpeed accounting.
const std::vector<Recipe>& torch_recipe_table() {
  static const std::vector<Recipe> table = {
      // PyTorch AMP (Trainer(bf16=True) on an fp32 model): the model states are fp32 as under `fp32`, no master
      // copy; torch.autocast runs the matmuls in bf16 (torch.amp autocast op lists).
      {"amp",
       "torch-amp",
       "PyTorch autocast bf16 on fp32 params: params 4 + grads 4 + Adam m,v 8 = 16 bytes (no master copy)",
       {kFp32Params, kFp32Grads},
       Dtype::fp32,
       true},
      // FSDP over fp32 parameters with a bf16 (or fp16) mixed-precision policy (accelerate / Trainer
      // mixed_precision bf16 with FSDP; MixedPrecision(param_dtype=torch.bfloat16)): the shards stay fp32, the
      // optimizer steps on them, and only the all-gathered copies and the compute are 16-bit
      // (torch/distributed/fsdp/_fully_shard/_fsdp_api.py MixedPrecisionPolicy: "the unsharded parameter ... dtype
      // for forward/backward computation and the parameter all-gather ... The optimizer step uses the sharded
      // parameter in the original dtype"; "FSDP does not require any extra memory to keep a high-precision copy").
      {"fsdp-mp",
       "fsdp-bf16",
       "FSDP mixed precision (param_dtype bf16) over fp32 params: sharded params 4 + grads 4 + Adam m,v 8 = 16 "
       "bytes (no master copy); all-gathers and compute in bf16",
       {kFp32Params, kFp32Grads},
       Dtype::fp32,
       false,
       std::nullopt,
       Dtype::bf16},
  };
  return table;
}

// Moment formats. bitsandbytes (optim/optimizer.py at 95f9af3, Optimizer2State.init_state lines 492-529): state1 and
// state2 uint8, absmax1/absmax2 fp32 of ceil(n/256) blocks, tensors with numel < min_8bit_size (4096, line 414)
// keep fp32 state1/state2; the quantization maps are one per optimizer (name2qmap, lines 134, 157-159), not counted.
constexpr MomentFormat kBnb8bit{8, "uint8", 256, 4096, false, false, 0};
// torchao (torchao/optim at 36027d8): adam.py _new_buffer (lines 71-78) quantizes a tensor only when numel >= 4096
// and numel % block_size == 0, else torch.zeros_like(p); AdamW8bit block_size 256 (line 319), AdamW4bit 128 (line
// 352), AdamWFp8 256 (line 385). subclass_8bit.py zeros (lines 104-116): uint8 codes, fp32 scale of numel/block,
// a 256-entry fp32 qmap per state tensor; subclass_4bit.py zeros (lines 115-130): numel/2 uint8 (two 4-bit codes
// each), fp32 scale numel/block, a 16-entry qmap; subclass_fp8.py (lines 19, 86-95): float8_e4m3fn codes, fp32
// scale numel/block, no qmap.
constexpr MomentFormat kTorchao8bit{8, "uint8", 256, 4096, true, true, 256};
constexpr MomentFormat kTorchao4bit{4, "4-bit (2 per uint8)", 128, 4096, true, true, 16};
constexpr MomentFormat kTorchaoFp8{8, "fp8 e4m3", 256, 4096, true, true, 0};

// DeepSpeed runtime/fp16/onebit (at 38327e0): adam.py lines 166-182 (exp_avg, exp_avg_sq zeros_like(p); fp32
// worker_error and server_error, line 110 divider = lcm(N, 8)); zoadam.py lines 174-198 (adds momentum_accumulator);
// lamb.py lines 206-213 (exp_avg, exp_avg_sq, exp_avg_sq_fresh) and 261-287 (momentum flattened into one buffer
// padded with zeros to the corrected size, worker/server errors). engine.py lines 1452-1472: none works with ZeRO.
constexpr Optimizer kOptimizers[] = {
    {"adam", 2, {}, "Adam: first and second moments (m, v)"},
    {"adamw", 2, {}, "AdamW: first and second moments (m, v); weight decay needs no state"},
    {"sgd-momentum", 1, {}, "SGD with momentum: one momentum buffer"},
    {"sgd", 0, {}, "plain SGD: no optimizer state"},
    {"adam-8bit", 2, kBnb8bit, "bitsandbytes 8-bit Adam(W): m, v as uint8 with an fp32 absmax per 256-element block",
     "adamw-bnb-8bit"},
    {"adamw-torchao-8bit", 2, kTorchao8bit,
     "torchao AdamW8bit: m, v as uint8 with an fp32 scale per 256-element block"},
    {"adamw-torchao-4bit", 2, kTorchao4bit,
     "torchao AdamW4bit: m, v as 4-bit codes with an fp32 scale per 128-element block"},
    {"adamw-torchao-fp8", 2, kTorchaoFp8,
     "torchao AdamWFp8: m, v as float8 e4m3 with an fp32 scale per 256-element block"},
    {"onebit-adam", 2, {}, "DeepSpeed 1-bit Adam: fp32 m, v + fp32 worker_error + server_error (1/N)", "", true},
    {"zero-one-adam",
     2,
     {},
     "DeepSpeed 0/1 Adam: fp32 m, v, momentum_accumulator + fp32 worker_error + server_error (1/N)",
     "",
     true,
     1},
    {"onebit-lamb",
     3,
     {},
     "DeepSpeed 1-bit LAMB: fp32 m, v, fresh v + fp32 worker_error + server_error (1/N)",
     "",
     true},
};
}  // namespace

std::span<const Recipe> recipes() { return recipe_table(); }
std::span<const Optimizer> optimizers() { return kOptimizers; }

const Recipe* find_recipe(std::string_view name) {
  for (const auto& r : recipe_table())
    if (r.name == name || (!r.alias.empty() && r.alias == name)) return &r;
  for (const auto& r : torch_recipe_table())
    if (r.name == name || r.alias == name) return &r;
  return nullptr;
}

const Optimizer* find_optimizer(std::string_view name) {
  for (const auto& o : kOptimizers)
    if (o.name == name || (!o.alias.empty() && o.alias == name)) return &o;
  return nullptr;
}

Dtype second_moment_dtype(const Recipe& recipe) { return recipe.second_moment_dtype.value_or(recipe.moment_dtype); }

unsigned param_bytes(const Recipe& recipe) {
  for (const auto& t : recipe.tensors)
    if (t.category == MemoryCategory::params) return bits_per_element(t.dtype) == 32 ? 4 : 2;
  return 2;
}

unsigned unsharded_param_bytes(const Recipe& recipe) {
  return recipe.compute_dtype ? bits_per_element(*recipe.compute_dtype) / 8 : param_bytes(recipe);
}

unsigned bytes_per_parameter(const Recipe& recipe, const Optimizer& optimizer) {
  unsigned bits = 0;
  for (const auto& t : recipe.tensors) bits += bits_per_element(t.dtype);
  for (int i = 0; i < optimizer.num_states; ++i)
    bits += optimizer.quantized() ? optimizer.format.value_bits
                                  : bits_per_element(i == 1 ? second_moment_dtype(recipe) : recipe.moment_dtype);
  bits += 32 * static_cast<unsigned>(optimizer.extra_fp32_states + (optimizer.error_feedback ? 1 : 0));
  return bits / 8;
}

}  // namespace trainmem::sim
