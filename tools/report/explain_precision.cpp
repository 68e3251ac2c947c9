#include "tools/report/explain_precision.hpp"

#include <string>
#include <vector>

#include "sim/accounting/optimizer_state.hpp"
#include "tools/report/format.hpp"

namespace trainmem::tools {
namespace {

// Bytes per parameter as a decimal (block scales and the 1/N server_error make it fractional).
std::string bpp(double bytes) {
  std::string s = std::to_string(bytes);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// The moment storage of an optimizer, for the table's last column.
std::string state_text(const sim::Optimizer& opt) {
  std::string s = opt.num_states == 3 ? "m, v, fresh v" : "m, v";
  if (opt.quantized())
    s = std::string(opt.format.value_label) + " " + s + " + fp32 scale/" + std::to_string(opt.format.block);
  else
    s += " (recipe's moment dtype)";
  if (opt.extra_fp32_states > 0) s += " + fp32 accumulator";
  if (opt.error_feedback) s += " + fp32 errors (1 + 1/N)";
  return s;
}

void choices(std::ostream& o, const sim::EstimateResult& r) {
  const sim::Recipe& megatron = *sim::find_recipe("mixed-18");
  const sim::Optimizer& adam = *sim::find_optimizer("adam");
  // DeepSpeed's 1-bit optimizers add 4/N for the server_error: N is this scenario's data-parallel size.
  const auto ranks = static_cast<std::uint64_t>(r.resolved.scenario.parallel.zero_shard_ways());
  const char* const cols[] = {"mixed-16", "mixed-18", "mixed-20", "fp32", "bf16"};
  o << "Bytes per parameter by optimizer-state choice (before sharding, large tensors; 1-bit rows at N = " << ranks
    << ")\n    " << pad("optimizer", 20);
  for (const char* c : cols) o << lpad(c, 10);
  o << "   moments\n";
  for (const auto& opt : sim::optimizers()) {
    if (opt.num_states < 2) continue;  // SGD keeps one moment or none
    o << "    " << pad(std::string(opt.name), 20);
    for (const char* c : cols) o << lpad(bpp(sim::bytes_per_parameter_exact(*sim::find_recipe(c), opt, ranks)), 10);
    o << "   " << state_text(opt) << "\n";
  }
  o << "  Megatron's precision-aware optimizer (TE FusedAdam, adam):\n";
  struct Row {
    const char* what;
    Dtype params, grads, m, v;
    bool remainders;
  };
  const Row rows[] = {
      {"precision-aware, defaults (fp32 master as int16 remainders)", Dtype::fp32, Dtype::fp32, Dtype::fp32,
       Dtype::fp32, true},
      {"precision-aware, no store_param_remainders", Dtype::fp32, Dtype::fp32, Dtype::fp32, Dtype::fp32, false},
      {"precision-aware, exp-avg(-sq) bf16", Dtype::fp32, Dtype::fp32, Dtype::bf16, Dtype::bf16, true},
      {"precision-aware, exp-avg(-sq) fp16, main-params fp16", Dtype::fp16, Dtype::fp32, Dtype::fp16, Dtype::fp16,
       false},
      {"precision-aware, exp-avg(-sq) fp8, main-grads bf16", Dtype::fp32, Dtype::bf16, Dtype::fp8, Dtype::fp8, true},
  };
  for (const auto& row : rows) {
    sim::LowPrecisionConfig c;
    c.precision_aware_optimizer = true;
    c.main_params_dtype = row.params, c.main_grads_dtype = row.grads;
    c.exp_avg_dtype = row.m, c.exp_avg_sq_dtype = row.v;
    c.store_param_remainders = row.remainders;
    const auto rec = sim::precision_aware_recipe(c, megatron);
    std::string terms;
    for (const auto& t : rec->tensors)
      terms += (terms.empty() ? "" : " + ") + std::to_string(bits_per_element(t.dtype) / 8);
    o << "    " << pad(std::string("mixed-18 + ") + row.what, 72)
      << lpad(bpp(sim::bytes_per_parameter_exact(*rec, adam, 1)), 9) << "   (" << terms << " + m "
      << bits_per_element(row.m) / 8 << " + v " << bits_per_element(row.v) / 8 << ")\n";
  }
  o << "  Low-bit optimizers keep tensors under 4096 elements (torchao: also not whole blocks) in full precision;\n"
    << "  bitsandbytes optim/optimizer.py init_state, torchao optim/adam.py _new_buffer, DeepSpeed\n"
    << "  runtime/fp16/onebit/{adam,zoadam,lamb}.py (no ZeRO). docs/model-states.md has the table with line numbers.\n";
  o << "  Sources: Megatron-LM arguments.py (--use-precision-aware-optimizer, --main-params-dtype fp32|fp16,\n"
    << "  --main-grads-dtype fp32|bf16, --exp-avg-dtype / --exp-avg-sq-dtype fp32|fp16|bf16|fp8; only with the\n"
    << "  distributed optimizer, core/optimizer/__init__.py; needs TE's FusedAdam, optimizer_config.py); TE\n"
    << "  optimizers/fused_adam.py (fp8 states are E4M3 with one fp32 scale per tensor; store_param_remainders keeps\n"
    << "  the low 16 bits of an fp32 master of a bf16 parameter, Megatron default on); bitsandbytes 8-bit Adam.\n";
  o << "  This scenario: " << r.resolved.recipe->name << " + " << r.resolved.optimizer->name << " = "
    << bpp(sim::bytes_per_parameter_exact(*r.resolved.recipe, *r.resolved.optimizer, ranks))
    << " bytes per parameter.\n\n";
}

void quantized(std::ostream& o, const sim::EstimateResult& r) {
  const auto& c = r.resolved.scenario.training.low_precision;
  const bool fp4 = c.recipe == sim::QuantRecipe::nvfp4;
  o << "Low-precision linear layers: " << (fp4 ? "--fp4-format " + c.fp4_format : "--fp8-format " + c.fp8_format)
    << ", recipe " << sim::quant_recipe_name(c.recipe) << (c.param_gather ? ", --fp8-param-gather" : "")
    << (c.first_last_layers_bf16 ? ", first " + std::to_string(c.num_layers_at_start_in_bf16) + " and last " +
                                       std::to_string(c.num_layers_at_end_in_bf16) + " layers BF16"
                                 : "")
    << "\n"
    << "  Per linear weight W [out, in] (QKV, out-proj, fc1, fc2, expert fc1/fc2) of a quantized layer, TE keeps:\n";
  if (c.param_gather)
    o << "    the parameter itself quantized: " << (fp4 ? "out*in/2" : "out*in") << " B (the bf16 copy is gone; the\n"
      << "    fp32 master stays in the distributed optimizer) -- Megatron fp8_param / TE QuantizedTensor params\n";
  else
    o << "    the bf16 parameter (2 B/el.) and a cached quantized copy, rowwise: " << (fp4 ? "out*in/2" : "out*in")
      << " B\n    -- TE module/linear.py quantize_weight, cache_name \"weight\" (Megatron passes "
         "is_first_microbatch)\n";
  o << "    a columnwise copy for the dgrad GEMM (the transpose): " << (fp4 ? "out*in/2" : "out*in")
    << " B\n    -- linear.py weight_quantizer.set_usage(columnwise=is_grad_enabled)\n";
  switch (c.recipe) {
    case sim::QuantRecipe::delayed:
    case sim::QuantRecipe::tensorwise:
      o << "    one fp32 scale_inv per tensor (4 B) -- tensor/float8_tensor.py\n";
      break;
    case sim::QuantRecipe::mxfp8:
      o << "    e8m0 scales, 1 B per 32 elements: rowwise [round_up(out,128), round_up(in/32,4)], columnwise\n"
        << "    [round_up(out/32,4), round_up(in,128)] -- tensor/mxfp8_tensor.py get_scale_shape\n";
      break;
    case sim::QuantRecipe::blockwise:
      o << "    fp32 scales per 128x128 block: rowwise [ceil(out/128), round_up(ceil(in/128),4)], columnwise\n"
        << "    [ceil(in/128), round_up(ceil(out/128),4)] x 4 B -- tensor/float8_blockwise_tensor.py\n";
      break;
    case sim::QuantRecipe::nvfp4:
      o << "    e4m3 scales, 1 B per 16 elements: rowwise [round_up(out,128), round_up(ceil(in/16),4)], columnwise\n"
        << "    [round_up(in,128), round_up(ceil(out/16),4)], + one fp32 amax -- tensor/nvfp4_tensor.py\n";
      break;
  }
  if (c.recipe == sim::QuantRecipe::delayed)
    o << "    delayed scaling: 5 quantizers per GEMM (3 forward, 2 backward; module/base.py), each a scale and an\n"
      << "    amax history of " << c.amax_history_len
      << " fp32 (quantization.py DelayedScalingRecipeState; Megatron --fp8-amax-history-len default 1)\n";
  o << "  Saved for backward: the inputs of QKV, out-proj, fc1, fc2 (and expert fc1/fc2) in "
    << (fp4 ? "NVFP4 (1/2 B per element)" : "FP8 (1 B per element)")
    << " + columnwise scales\n  instead of BF16 (linear.py / layernorm_linear.py save the quantized input for wgrad);"
    << " the activation table's bytes include the scales;\n"
    << "  the norm inputs, Q/K/V, softmax statistics, the SwiGLU input, residual and dropout tensors stay BF16; with\n"
    << "  flash attention O stays saved in BF16 by the attention kernel beside the out-projection's quantized copy.\n";
  if (c.first_last_layers_bf16)
    o << "  With first_last_layers_bf16 every layer's activations are counted BF16 (an upper bound; the weight\n"
      << "  terms count the quantized layers only).\n";
  o << "  Sources: Megatron-LM core/transformer/transformer_config.py (fp8, fp8_recipe, fp8_param, fp4,\n"
    << "  first_last_layers_bf16), core/fp8_utils.py (the TE recipe per --fp8-recipe), training/arguments.py.\n\n";
}

}  // namespace

void explain_low_precision(std::ostream& o, const sim::EstimateResult& r) {
  const auto& t = r.resolved.scenario.training;
  if (t.low_precision.precision_aware_optimizer || r.resolved.optimizer->quantized() ||
      r.resolved.optimizer->error_feedback || t.low_precision.quantized())
    choices(o, r);
  if (t.low_precision.quantized()) quantized(o, r);
}

}  // namespace trainmem::tools
