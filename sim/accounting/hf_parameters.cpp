#include "sim/accounting/hf_parameters.hpp"

#include <algorithm>
#include <string>

namespace trainmem::sim {
namespace {
using U = std::uint64_t;
}  // namespace

std::vector<HfParamTensor> hf_parameter_tensors(const ModelSpec& m, std::int64_t padded_vocab_size) {
  const U h = static_cast<U>(m.hidden_size), a = static_cast<U>(m.num_attention_heads),
          kv = static_cast<U>(m.query_groups()), d = static_cast<U>(m.head_dim()), f = static_cast<U>(m.ffn()),
          V = static_cast<U>(padded_vocab_size);
  const bool ln = m.normalization == Normalization::layer_norm;
  std::vector<HfParamTensor> out;
  auto add = [&out](std::string name, U rows, U cols, std::int64_t layer) {
    out.push_back({std::move(name), rows, rows * cols, layer});
  };
  add("embed_tokens", V, h, -1);
  if (m.position_embedding == PositionEmbedding::learned)
    add("position embeddings", static_cast<U>(m.max_position_embeddings), h, -1);
  const bool qkv_bias = m.add_bias_linear || m.add_qkv_bias;
  for (std::int64_t l = 0; l < m.num_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    auto norm = [&](const std::string& name) {
      add(p + name + ".weight", h, 1, l);
      if (m.norm_has_bias()) add(p + name + ".bias", h, 1, l);
    };
    if (ln) {  // GPT-2: ln_1, c_attn (Conv1D [h, 3h]), c_proj, ln_2, c_fc, c_proj
      norm("ln_1");
      add(p + "attn.c_attn.weight", h, (a + 2 * kv) * d, l);
      if (qkv_bias) add(p + "attn.c_attn.bias", (a + 2 * kv) * d, 1, l);
      add(p + "attn.c_proj.weight", a * d, h, l);
      if (m.add_bias_linear) add(p + "attn.c_proj.bias", h, 1, l);
      norm("ln_2");
      add(p + "mlp.c_fc.weight", h, f, l);
      if (m.add_bias_linear) add(p + "mlp.c_fc.bias", f, 1, l);
      add(p + "mlp.c_proj.weight", f, h, l);
      if (m.add_bias_linear) add(p + "mlp.c_proj.bias", h, 1, l);
    } else {  // Llama / Qwen2: nn.Linear weights are [out, in]
      add(p + "q_proj.weight", a * d, h, l);
      if (qkv_bias) add(p + "q_proj.bias", a * d, 1, l);
      add(p + "k_proj.weight", kv * d, h, l);
      if (qkv_bias) add(p + "k_proj.bias", kv * d, 1, l);
      add(p + "v_proj.weight", kv * d, h, l);
      if (qkv_bias) add(p + "v_proj.bias", kv * d, 1, l);
      add(p + "o_proj.weight", h, a * d, l);
      if (m.add_bias_linear) add(p + "o_proj.bias", h, 1, l);
      if (m.gated_mlp()) add(p + "gate_proj.weight", f, h, l);
      add(p + "up_proj.weight", f, h, l);
      add(p + "down_proj.weight", h, f, l);
      norm("input_layernorm");
      norm("post_attention_layernorm");
    }
  }
  add("final norm.weight", h, 1, -1);
  if (m.norm_has_bias()) add("final norm.bias", h, 1, -1);
  if (!m.tie_embeddings) add("lm_head.weight", V, h, -1);
  return out;
}

std::vector<std::uint64_t> zero_redundancy_partition(const std::vector<HfParamTensor>& params, std::int64_t world) {
  std::vector<std::uint64_t> sizes(static_cast<std::size_t>(std::max<std::int64_t>(world, 1)), 0);
  std::vector<U> sorted;
  sorted.reserve(params.size());
  for (const auto& p : params) sorted.push_back(p.elements);
  std::stable_sort(sorted.begin(), sorted.end(), [](U x, U y) { return x > y; });
  for (U n_ : sorted) *std::min_element(sizes.begin(), sizes.end()) += n_;  // first minimum: the lowest rank
  return sizes;
}

std::uint64_t fsdp_shard_elements(const HfParamTensor& p, std::int64_t world) {
  const U w = static_cast<U>(std::max<std::int64_t>(world, 1));
  const U cols = p.rows == 0 ? 0 : p.elements / p.rows;
  return (p.rows + w - 1) / w * cols;
}

}  // namespace trainmem::sim
