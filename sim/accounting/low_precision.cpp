#include "sim/accounting/low_precision.hpp"

#include <algorithm>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {
std::uint64_t u(std::int64_t v) { return static_cast<std::uint64_t>(v); }
std::uint64_t round_up(std::uint64_t v, std::uint64_t m) { return detail::ceil_div(v, m) * m; }
std::uint64_t mul(std::uint64_t a, std::uint64_t b) { return detail::checked_mul(a, b, "quantized tensor bytes"); }

constexpr StateTensor kBf16Params{"bf16 parameters", Dtype::bf16, ZeroStateClass::parameters, MemoryCategory::params,
                                  "the weights the forward and backward passes compute with"};
}  // namespace

std::string_view quant_recipe_name(QuantRecipe r) {
  switch (r) {
    case QuantRecipe::delayed: return "delayed";
    case QuantRecipe::tensorwise: return "tensorwise";
    case QuantRecipe::blockwise: return "blockwise";
    case QuantRecipe::mxfp8: return "mxfp8";
    case QuantRecipe::nvfp4: return "nvfp4";
  }
  return "?";
}

void check_low_precision(const LowPrecisionConfig& c, const Recipe& recipe, const Optimizer& optimizer,
                         int zero_stage) {
  const bool moments_low = c.exp_avg_dtype != Dtype::fp32 || c.exp_avg_sq_dtype != Dtype::fp32;
  if (!c.precision_aware_optimizer) {
    // optimizer_config.py __post_init__: "... can only be fp32 when not using precision-aware optimizer".
    if (c.main_params_dtype != Dtype::fp32)
      throw ConfigError("main_params_dtype", std::string(dtype_name(c.main_params_dtype)),
                        "can only be fp32 without use_precision_aware_optimizer (Megatron optimizer_config.py)");
    if (c.main_grads_dtype != Dtype::fp32)
      throw ConfigError("main_grads_dtype", std::string(dtype_name(c.main_grads_dtype)),
                        "can only be fp32 without use_precision_aware_optimizer (Megatron optimizer_config.py)");
    if (moments_low)
      throw ConfigError(c.exp_avg_dtype != Dtype::fp32 ? "exp_avg_dtype" : "exp_avg_sq_dtype",
                        std::string(dtype_name(c.exp_avg_dtype != Dtype::fp32 ? c.exp_avg_dtype : c.exp_avg_sq_dtype)),
                        "can only be fp32 without use_precision_aware_optimizer (Megatron optimizer_config.py)");
  } else {
    if (recipe.name != "mixed-18")
      throw ConfigError("use_precision_aware_optimizer", "true",
                        "is Megatron's (TE FusedAdam under the distributed optimizer): needs recipe mixed-18 "
                        "(megatron), not " +
                            std::string(recipe.name));
    if (optimizer.name != "adam" && optimizer.name != "adamw")
      throw ConfigError("use_precision_aware_optimizer", "true",
                        "only supported with adam (Megatron optimizer_config.py), not " + std::string(optimizer.name));
    // Megatron optimizer/__init__.py: "--use-precision-aware-optimizer only supported with distributed optimizer".
    if (zero_stage != 1)
      throw ConfigError("use_precision_aware_optimizer", "true",
                        "only supported with the distributed optimizer (use_distributed_optimizer, ZeRO stage 1); "
                        "zero_stage is " +
                            std::to_string(zero_stage));
  }
  if (!c.fp8_format.empty() && !c.fp4_format.empty())
    throw ConfigError("fp4_format", c.fp4_format, "and fp8_format cannot be used together (Megatron arguments.py)");
  if (c.param_gather && !c.quantized()) throw ConfigError("fp8_param_gather", "true", "needs fp8_format or fp4_format");
  // arguments.py: --fp8-param-gather only with the distributed optimizer (or FSDP, not modelled here).
  if (c.param_gather && zero_stage != 1)
    throw ConfigError("fp8_param_gather", "true",
                      "only supported with the distributed optimizer (use_distributed_optimizer); zero_stage is " +
                          std::to_string(zero_stage));
  if (c.quantized() && recipe.name != "mixed-18" && recipe.name != "mixed-16" && recipe.name != "mixed-20" &&
      recipe.name != "bf16")
    throw ConfigError(c.fp8_format.empty() ? "fp4_format" : "fp8_format",
                      c.fp8_format.empty() ? c.fp4_format : c.fp8_format,
                      "models Megatron + TE with bf16 weights; recipe " + std::string(recipe.name) + " is not that");
  if (c.first_last_layers_bf16 && !c.quantized())
    throw ConfigError("first_last_layers_bf16", "true", "needs fp8_format or fp4_format");
  if (c.num_layers_at_start_in_bf16 < 0 || c.num_layers_at_start_in_bf16 > 1000000)
    throw ConfigError("num_layers_at_start_in_bf16", std::to_string(c.num_layers_at_start_in_bf16),
                      "must be between 0 and 1000000");
  if (c.num_layers_at_end_in_bf16 < 0 || c.num_layers_at_end_in_bf16 > 1000000)
    throw ConfigError("num_layers_at_end_in_bf16", std::to_string(c.num_layers_at_end_in_bf16),
                      "must be between 0 and 1000000");
  if (c.amax_history_len < 1 || c.amax_history_len > 1000000)
    throw ConfigError("fp8_amax_history_len", std::to_string(c.amax_history_len), "must be between 1 and 1000000");
}

std::shared_ptr<const Recipe> precision_aware_recipe(const LowPrecisionConfig& c, const Recipe& base) {
  if (!c.precision_aware_optimizer) return nullptr;
  auto r = std::make_shared<Recipe>(base);
  r->name = "mixed-18+pao";
  r->alias = "";
  r->summary =
      "Megatron-LM precision-aware optimizer (TE FusedAdam): bf16 params + main_grad, master and Adam m, v "
      "in the chosen dtypes";
  r->tensors.clear();
  r->tensors.push_back(kBf16Params);
  // The DDP gradient buffer (main_grad) in --main-grads-dtype (Megatron distributed_data_parallel_config grad dtype).
  r->tensors.push_back({c.main_grads_dtype == Dtype::bf16 ? "bf16 main_grad" : "fp32 main_grad", c.main_grads_dtype,
                        ZeroStateClass::gradients, MemoryCategory::grads,
                        "the DDP gradient buffer in --main-grads-dtype (Megatron grad buffer)", ""});
  // optimizer/__init__.py: TE manages the master weight when main_params_dtype != fp32, or with no FP8 or delayed
  // FP8 (use_precision_aware_optimizer_no_fp8_or_ds_fp8); then FusedAdam(store_param_remainders) keeps an fp32
  // master of a bf16 parameter as its int16 low half (fused_adam.py _initialize_state: torch.int16).
  const bool te_master = c.main_params_dtype != Dtype::fp32 || !c.quantized() || c.recipe == QuantRecipe::delayed;
  if (c.main_params_dtype == Dtype::fp16)
    r->tensors.push_back({"fp16 master parameters", Dtype::fp16, ZeroStateClass::optimizer,
                          MemoryCategory::master_params,
                          "TE FusedAdam master_weight_dtype fp16 (one fp32 scale per tensor, not counted)", ""});
  else if (te_master && c.store_param_remainders)
    r->tensors.push_back({"fp32 master remainders", Dtype::bf16, ZeroStateClass::optimizer,
                          MemoryCategory::master_params,
                          "TE FusedAdam store_param_remainders: the low 16 bits of the fp32 master; the high 16 "
                          "bits are the bf16 parameter (fused_adam.py)",
                          "int16"});
  else
    r->tensors.push_back({"fp32 master parameters", Dtype::fp32, ZeroStateClass::optimizer,
                          MemoryCategory::master_params,
                          te_master ? "TE FusedAdam fp32 master weights"
                                    : "fp32 master kept by Megatron's distributed optimizer (FP8 recipe not delayed)",
                          ""});
  r->moment_dtype = c.exp_avg_dtype;
  r->second_moment_dtype = c.exp_avg_sq_dtype;
  return r;
}

std::vector<LinearShape> layer_linears(const ModelSpec& m, const TensorSplit& s, bool dense_layer) {
  if (m.mla())
    throw ConfigError("fp8_format", "(set)", "FP8 weight caches are not modelled for MLA attention (kv_lora_rank > 0)");
  const std::uint64_t h = u(m.hidden_size), d = u(m.head_dim());
  const std::uint64_t q = u(m.num_attention_heads / s.tp), kv = u(m.query_groups() / s.tp);
  std::vector<LinearShape> out;
  // TE Linear weights are [out_features, in_features]; QKV and fc1 column-parallel, proj and fc2 row-parallel.
  out.push_back({"attention QKV", (q + 2 * kv) * d, h, 1, false});
  out.push_back({"attention out-proj", h, q * d, 1, false});
  const std::uint64_t gate = m.gated_mlp() ? 2 : 1;
  auto mlp = [&](const std::string& prefix, std::int64_t ffn, std::int64_t split, std::uint64_t copies, bool expert) {
    const std::uint64_t f = u(ffn / split);
    out.push_back({prefix + "fc1", gate * f, h, copies, expert});
    out.push_back({prefix + "fc2", h, f, copies, expert});
  };
  if (m.is_moe() && !dense_layer) {
    mlp("expert ", m.expert_ffn(), s.etp, u(m.num_experts / s.ep), true);
    if (m.shared_expert_ffn != 0) mlp("shared expert ", m.shared_expert_ffn, s.tp, 1, false);
  } else {
    mlp("MLP ", m.ffn(), s.tp, 1, false);
  }
  return out;
}

QuantizedBytes quantized_bytes(QuantRecipe r, std::uint64_t rows, std::uint64_t cols, bool columnwise,
                               bool weight_2d_blocks) {
  QuantizedBytes b;
  const std::uint64_t n = mul(rows, cols);
  switch (r) {
    case QuantRecipe::delayed:
    case QuantRecipe::tensorwise:
      // float8_tensor.py: 1-byte data (the columnwise copy is the transpose) + one fp32 scale_inv per tensor.
      b.data = Bytes(n);
      b.scales = Bytes(4);
      break;
    case QuantRecipe::mxfp8:
      // mxfp8_tensor.py get_scale_shape: one e8m0 byte per 32 elements along the reduction direction, padded to
      // [128, 4] (rowwise: [round_up(rows,128), round_up(cols/32,4)]; columnwise: [round_up(rows/32,4),
      // round_up(cols,128)]).
      b.data = Bytes(n);
      b.scales = Bytes(columnwise ? mul(round_up(rows / 32, 4), round_up(cols, 128))
                                  : mul(round_up(rows, 128), round_up(cols / 32, 4)));
      break;
    case QuantRecipe::blockwise:
      // float8_blockwise_tensor.py get_scale_shape: fp32 scales; weights 128x128 blocks, activations 1x128.
      b.data = Bytes(n);
      if (weight_2d_blocks) {
        const std::uint64_t r128 = detail::ceil_div(rows, 128), c128 = detail::ceil_div(cols, 128);
        b.scales = Bytes(4 * (columnwise ? mul(c128, round_up(r128, 4)) : mul(r128, round_up(c128, 4))));
      } else {
        b.scales = Bytes(4 * (columnwise ? mul(detail::ceil_div(rows, 128), round_up(cols, 4))
                                         : mul(detail::ceil_div(cols, 128), round_up(rows, 4))));
      }
      break;
    case QuantRecipe::nvfp4:
      // nvfp4_tensor.py: 4-bit data (two per byte), one e4m3 byte per 16 elements (padded [128, 4]; columnwise
      // [round_up(cols,128), round_up(ceil(rows/16),4)]) and one fp32 amax per tensor.
      b.data = Bytes(detail::ceil_div(n, 2));
      b.scales = Bytes(4 + (columnwise ? mul(round_up(cols, 128), round_up(detail::ceil_div(rows, 16), 4))
                                       : mul(round_up(rows, 128), round_up(detail::ceil_div(cols, 16), 4))));
      break;
  }
  return b;
}

std::int64_t quantized_layers(const LowPrecisionConfig& c, std::int64_t num_layers, std::int64_t first,
                              std::int64_t count) {
  if (!c.quantized()) return 0;
  if (!c.first_last_layers_bf16) return count;
  // transformer_config.py: the first num_layers_at_start_in_bf16 and last num_layers_at_end_in_bf16 layers stay BF16.
  const std::int64_t lo = c.num_layers_at_start_in_bf16, hi = num_layers - c.num_layers_at_end_in_bf16;
  const std::int64_t a = std::max(first, lo), b = std::min(first + count, hi);
  return std::max<std::int64_t>(0, b - a);
}

}  // namespace trainmem::sim
