#include "sim/accounting/quantized_weights.hpp"

#include <string>

namespace trainmem::sim {
namespace {

struct WeightBytes {
  std::uint64_t elements_dense = 0, elements_expert = 0;
  Bytes row_data, row_scales, col_data, col_scales;
  std::uint64_t gemms = 0;  // GEMMs (a grouped linear has one per local expert): delayed scaling state
  void add(const LinearShape& l, QuantRecipe r, std::uint64_t layers) {
    const std::uint64_t n = detail::checked_mul(detail::checked_mul(l.out, l.in, "linear"), l.copies * layers, "fp8");
    (l.expert ? elements_expert : elements_dense) += n;
    // Weights: rowwise for the forward GEMM, columnwise for dgrad (linear.py: weight_quantizer.set_usage(rowwise=True,
    // columnwise=is_grad_enabled)); blockwise recipes use 2D 128x128 weight blocks.
    const QuantizedBytes row = quantized_bytes(r, l.out, l.in, false, true);
    const QuantizedBytes col = quantized_bytes(r, l.out, l.in, true, true);
    const std::uint64_t k = l.copies * layers;
    row_data += Bytes(detail::checked_mul(row.data.value, k, "fp8"));
    row_scales += Bytes(detail::checked_mul(row.scales.value, k, "fp8"));
    col_data += Bytes(detail::checked_mul(col.data.value, k, "fp8"));
    col_scales += Bytes(detail::checked_mul(col.scales.value, k, "fp8"));
    gemms += k;
  }
};

std::string data_label(const LowPrecisionConfig& c) {
  return c.recipe == QuantRecipe::nvfp4 ? "nvfp4 e2m1" : "fp8 e4m3";
}
std::string scale_label(QuantRecipe r) {
  switch (r) {
    case QuantRecipe::delayed:
    case QuantRecipe::tensorwise: return "fp32/tensor";
    case QuantRecipe::mxfp8: return "e8m0/32 el.";
    case QuantRecipe::blockwise: return "fp32/128x128";
    case QuantRecipe::nvfp4: return "e4m3/16+amax";
  }
  return "";
}

void add_term(ModelStateMemory& m, std::string name, std::string dtype, const WeightBytes& w, Bytes bytes,
              std::string formula) {
  if (bytes.value == 0) return;
  ModelStateTerm t;
  t.formula = std::move(formula);
  t.name = std::move(name);
  t.category = MemoryCategory::params;
  t.dtype = std::move(dtype);
  t.dense_elements = ElementCount(w.elements_dense);
  t.expert_elements = ElementCount(w.elements_expert);
  t.bytes = bytes;
  m.add(std::move(t));
}

}  // namespace

void add_quantized_weight_terms(ModelStateMemory& m, const ModelSpec& model, const ParallelConfig& p,
                                const StageLayers& stage, const LowPrecisionConfig& c) {
  if (!c.quantized()) return;
  const TensorSplit split{p.tp, p.etp, p.ep};
  WeightBytes w;
  for (const auto& chunk : stage.chunks) {
    for (std::int64_t i = 0; i < chunk.num_layers; ++i) {
      const std::int64_t layer = chunk.first_layer + i;
      if (quantized_layers(c, model.num_layers, layer, 1) == 0) continue;
      const bool dense_layer = model.is_moe() && !model.moe_layer(layer);
      for (const auto& l : layer_linears(model, split, dense_layer)) w.add(l, c.recipe, 1);
    }
  }
  if (w.gemms == 0) return;
  const std::string data = data_label(c), scales = scale_label(c.recipe);
  const std::string n = std::to_string(w.elements_dense + w.elements_expert) + " linear el.";
  const std::string per = c.recipe == QuantRecipe::nvfp4 ? " x 1/2 B" : " x 1 B";
  const std::string sc = std::to_string(w.gemms) + " weights' padded scales";
  if (c.param_gather) {
    // --fp8-param-gather (fp8_param / fp4_param): the linear weights are TE QuantizedTensor parameters (1 byte per
    // element, NVFP4 half a byte), so the bf16 copy of those weights is gone; the fp32 master stays (optimizer).
    for (auto& t : m.terms)
      if (t.category == MemoryCategory::params && t.name == "bf16 parameters") {
        const Bytes quantized_bf16(detail::checked_mul(w.elements_dense + w.elements_expert, 2, "fp8 params"));
        t.bytes = t.bytes - quantized_bf16;
        m.breakdown[MemoryCategory::params] = m.breakdown[MemoryCategory::params] - quantized_bf16;
        t.name = "bf16 params (not quantized)";
        t.dense_elements = ElementCount(t.dense_elements.value - w.elements_dense);
        t.expert_elements = ElementCount(t.expert_elements.value - w.elements_expert);
        t.formula = std::to_string((t.dense_elements + t.expert_elements).value) + " el. x 2 B";
      }
    add_term(m, "fp8 params (the weights, rowwise)", data, w, w.row_data, n + per);
  } else {
    // linear.py: the quantized weight workspace is cached across microbatches (cache_name "weight", Megatron
    // passes is_first_microbatch) beside the bf16 parameter.
    add_term(m, "fp8 weight cache (rowwise)", data, w, w.row_data, n + per);
  }
  add_term(m, "fp8 weight scales (rowwise)", scales, w, w.row_scales, sc);
  add_term(m, "fp8 weight columnwise copy", data, w, w.col_data, n + per);
  add_term(m, "fp8 weight scales (columnwise)", scales, w, w.col_scales, sc);
  if (c.recipe == QuantRecipe::delayed) {
    // TE base.py: 3 forward + 2 backward quantizers per GEMM; quantization.py DelayedScalingRecipeState keeps a
    // scale and an amax_history of amax_history_len, fp32, per quantizer.
    const std::uint64_t per_gemm = 5 * (static_cast<std::uint64_t>(c.amax_history_len) + 1) * 4;
    add_term(m, "fp8 delayed-scaling state", "fp32", w, Bytes(detail::checked_mul(w.gemms, per_gemm, "fp8 meta")),
             std::to_string(w.gemms) + " GEMMs x 5 x (" + std::to_string(c.amax_history_len) + "+1) x 4 B");
  }
}

}  // namespace trainmem::sim
