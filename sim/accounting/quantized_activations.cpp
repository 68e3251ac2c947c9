#include "sim/accounting/quantized_activations.hpp"

#include <string>

namespace trainmem::sim {
namespace {

// The saved input of a linear layer: rows tokens x `width`, columnwise-quantized (for wgrad).
void quantize(SavedTensor& st, std::uint64_t width, const LowPrecisionConfig& c) {
  const std::uint64_t rows = width == 0 ? 0 : st.elements.value / width;
  const QuantizedBytes q = quantized_bytes(c.recipe, rows, width, true, false);
  st.bytes = q.data + q.scales;
  st.bytes_per_element = c.recipe == QuantRecipe::nvfp4 ? 0 : 1;
  // The bytes column carries the scales too (shape padding as TE lays them out).
  st.dtype = c.recipe == QuantRecipe::nvfp4 ? "nvfp4" : c.recipe == QuantRecipe::mxfp8 ? "mxfp8" : "fp8";
}

}  // namespace

void quantize_saved_linear_inputs(std::vector<ActivationOp>& ops, const ActivationDims& dims, const ModelSpec& m,
                                  const ParallelConfig& p, const LowPrecisionConfig& c, bool flash) {
  if (!c.quantized() || c.first_last_layers_bf16) return;
  const std::uint64_t h = static_cast<std::uint64_t>(m.hidden_size);
  const std::uint64_t tp_width_ffn = static_cast<std::uint64_t>(m.ffn() / p.tp);
  const std::uint64_t expert_ffn = static_cast<std::uint64_t>(m.expert_ffn() / p.etp);
  (void)dims;
  for (auto& op : ops) {
    std::vector<SavedTensor> extra;
    for (auto& st : op.saved) {
      if (!st.alias_of.empty() || st.bytes.value == 0) continue;
      if (st.name == "QKV input (norm output)" || st.name == "fc1 input (norm output)" ||
          st.name == "expert fc1 input (dispatched tokens)") {
        quantize(st, h, c);
      } else if (st.name == "fc2 input (activation output)") {
        quantize(st, tp_width_ffn, c);
      } else if (st.name == "expert fc2 input") {
        quantize(st, expert_ffn, c);
      } else if (st.name == "out-proj input (attention output O)" || st.name == "out-proj input (attention context)") {
        const std::uint64_t width = st.elements.value / (dims.tokens_tp == 0 ? 1 : dims.tokens_tp);
        if (flash) {
          // TE DotProductAttention (flash / cuDNN) saves O in BF16 for its own backward; it is part of the attention
          // core (rebuilt by selective recompute). The out-projection saves a quantized copy.
          SavedTensor q = st;
          st.name = "attention output O (kept by flash)";
          st.attention_core = true;
          q.name = "out-proj input (fp8 copy of O)";
          quantize(q, width, c);
          extra.push_back(q);
        } else {
          quantize(st, width, c);
        }
      }
    }
    for (auto& e : extra) op.saved.push_back(std::move(e));
  }
}

}  // namespace trainmem::sim
