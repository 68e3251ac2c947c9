#include "tools/inputs/precision_settings.hpp"

#include <string>

#include "partition/error.hpp"
#include "tools/inputs/value_parse.hpp"

namespace trainmem::tools {
namespace {
const std::string* find(const Settings& s, const char* key) {
  auto it = s.find(key);
  return it == s.end() ? nullptr : &it->second.text;
}

Dtype dtype_choice(const char* key, const std::string& text, std::initializer_list<std::string_view> choices) {
  return *parse_dtype(parse_choice(key, text, choices));
}
}  // namespace

void apply_low_precision(const Settings& s, sim::Scenario& sc) {
  auto& c = sc.training.low_precision;
  if (const auto* v = find(s, "use_precision_aware_optimizer"))
    c.precision_aware_optimizer = parse_bool("use_precision_aware_optimizer", *v);
  // Megatron arguments.py choices.
  if (const auto* v = find(s, "main_params_dtype"))
    c.main_params_dtype = dtype_choice("main_params_dtype", *v, {"fp32", "fp16"});
  if (const auto* v = find(s, "main_grads_dtype"))
    c.main_grads_dtype = dtype_choice("main_grads_dtype", *v, {"fp32", "bf16"});
  if (const auto* v = find(s, "exp_avg_dtype"))
    c.exp_avg_dtype = dtype_choice("exp_avg_dtype", *v, {"fp32", "fp16", "bf16", "fp8"});
  if (const auto* v = find(s, "exp_avg_sq_dtype"))
    c.exp_avg_sq_dtype = dtype_choice("exp_avg_sq_dtype", *v, {"fp32", "fp16", "bf16", "fp8"});
  if (const auto* v = find(s, "fp8_format")) c.fp8_format = parse_choice("fp8_format", *v, {"e4m3", "hybrid"});
  if (const auto* v = find(s, "fp4_format")) c.fp4_format = parse_choice("fp4_format", *v, {"e2m1"});
  if (const auto* v = find(s, "fp8_recipe")) {
    // transformer_config.py fp8_recipe: tensorwise | delayed | mxfp8 | blockwise (custom has no fixed layout).
    const std::string r = parse_choice("fp8_recipe", *v, {"delayed", "tensorwise", "blockwise", "mxfp8"});
    c.recipe = r == "tensorwise"  ? sim::QuantRecipe::tensorwise
               : r == "blockwise" ? sim::QuantRecipe::blockwise
               : r == "mxfp8"     ? sim::QuantRecipe::mxfp8
                                  : sim::QuantRecipe::delayed;
    if (c.fp8_format.empty()) throw ConfigError("fp8_recipe", *v, "needs fp8_format e4m3 or hybrid");
  }
  if (const auto* v = find(s, "fp4_recipe")) {
    parse_choice("fp4_recipe", *v, {"nvfp4"});  // transformer_config.py fp4_recipe: nvfp4 (custom not modelled)
    if (c.fp4_format.empty()) throw ConfigError("fp4_recipe", *v, "needs fp4_format e2m1");
  }
  if (!c.fp4_format.empty()) c.recipe = sim::QuantRecipe::nvfp4;
  if (const auto* v = find(s, "fp8_param_gather")) c.param_gather = parse_bool("fp8_param_gather", *v);
  if (const auto* v = find(s, "fp4_param_gather")) {
    const bool on = parse_bool("fp4_param_gather", *v);
    // arguments.py: "--fp4-param-gather must be used together with --fp4-format."
    if (on && c.fp4_format.empty()) throw ConfigError("fp4_param_gather", *v, "must be used together with fp4_format");
    c.param_gather = c.param_gather || on;
  }
  if (const auto* v = find(s, "first_last_layers_bf16"))
    c.first_last_layers_bf16 = parse_bool("first_last_layers_bf16", *v);
  if (const auto* v = find(s, "num_layers_at_start_in_bf16"))
    c.num_layers_at_start_in_bf16 = parse_int("num_layers_at_start_in_bf16", *v, 0, 1000000);
  if (const auto* v = find(s, "num_layers_at_end_in_bf16"))
    c.num_layers_at_end_in_bf16 = parse_int("num_layers_at_end_in_bf16", *v, 0, 1000000);
  if (const auto* v = find(s, "fp8_amax_history_len"))
    c.amax_history_len = parse_int("fp8_amax_history_len", *v, 1, 1000000);
}

}  // namespace trainmem::tools
