// Low-precision training as Megatron-LM + Transformer Engine run it today (docs/low-precision.md):
//  * the precision-aware optimizer (--use-precision-aware-optimizer: TE FusedAdam keeps the master weights and the
//    Adam moments in the dtypes --main-params-dtype / --exp-avg-dtype / --exp-avg-sq-dtype, the DDP gradient buffer
//    in --main-grads-dtype), which derives a recipe from mixed-18;
//  * FP8 / MXFP8 / NVFP4 linear layers (--fp8-format, --fp8-recipe, --fp4-format, --fp8-param-gather,
//    --first-last-layers-bf16): the quantized weight copies TE keeps per linear layer, the delayed-scaling state,
//    and the linear-layer inputs saved for backward in FP8 instead of BF16.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "partition/dtype.hpp"
#include "partition/model_spec.hpp"
#include "partition/units.hpp"
#include "sim/accounting/recipe.hpp"

namespace trainmem::sim {

// Megatron --fp8-recipe (transformer_config.py fp8_recipe) and, for --fp4-format e2m1, TE's NVFP4BlockScaling.
enum class QuantRecipe { delayed, tensorwise, blockwise, mxfp8, nvfp4 };
std::string_view quant_recipe_name(QuantRecipe r);

struct LowPrecisionConfig {
  // Megatron arguments.py "Args of precision-aware optimizer" (choices as there).
  bool precision_aware_optimizer = false;
  Dtype main_params_dtype = Dtype::fp32;  // fp32 | fp16
  Dtype main_grads_dtype = Dtype::fp32;   // fp32 | bf16
  Dtype exp_avg_dtype = Dtype::fp32;      // fp32 | fp16 | bf16 | fp8
  Dtype exp_avg_sq_dtype = Dtype::fp32;   // fp32 | fp16 | bf16 | fp8
  // TE FusedAdam store_param_remainders (Megatron OptimizerConfig default True, TE >= 2.1): an fp32 master of a
  // bf16 parameter keeps only its low 16 bits (int16); the high 16 bits are the bf16 parameter itself.
  bool store_param_remainders = true;

  std::string fp8_format;  // "" (off) | "e4m3" | "hybrid"
  std::string fp4_format;  // "" (off) | "e2m1" (NVFP4)
  QuantRecipe recipe = QuantRecipe::delayed;
  bool param_gather = false;  // --fp8-param-gather / --fp4-param-gather: the weights themselves are quantized
  bool first_last_layers_bf16 = false;
  std::int64_t num_layers_at_start_in_bf16 = 1;
  std::int64_t num_layers_at_end_in_bf16 = 1;
  std::int64_t amax_history_len = 1;  // Megatron --fp8-amax-history-len (transformer_config.py default 1)

  bool quantized() const { return !fp8_format.empty() || !fp4_format.empty(); }
};

// Checks the combinations Megatron refuses (arguments.py, optimizer_config.py, optimizer/__init__.py); throws
// ConfigError naming the field. `zero_stage` is the resolved stage (the distributed optimizer is stage 1).
void check_low_precision(const LowPrecisionConfig& c, const Recipe& recipe, const Optimizer& optimizer, int zero_stage);

// The recipe the precision-aware optimizer turns mixed-18 into (main_grad, master and moment dtypes), or nullptr
// when it is off.
std::shared_ptr<const Recipe> precision_aware_recipe(const LowPrecisionConfig& c, const Recipe& base);

// One linear layer's weight as TE stores it: [out_features, in_features] on this rank.
struct LinearShape {
  std::string name;
  std::uint64_t out = 0;
  std::uint64_t in = 0;
  std::uint64_t copies = 1;  // local experts of a grouped linear
  bool expert = false;
};
std::vector<LinearShape> layer_linears(const ModelSpec& model, const TensorSplit& split, bool dense_layer);

// Bytes of one quantized [rows, cols] tensor in one direction (data + scale_inv, padded as TE pads them).
struct QuantizedBytes {
  Bytes data;
  Bytes scales;
};
QuantizedBytes quantized_bytes(QuantRecipe r, std::uint64_t rows, std::uint64_t cols, bool columnwise,
                               bool weight_2d_blocks);

// Layers of global range [first, first + count) that run quantized (not kept BF16 by --first-last-layers-bf16).
std::int64_t quantized_layers(const LowPrecisionConfig& c, std::int64_t num_layers, std::int64_t first,
                              std::int64_t count);

}  // namespace trainmem::sim
