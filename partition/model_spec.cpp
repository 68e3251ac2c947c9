#include "partition/model_spec.hpp"

#include <functional>
#include <string>

#include "partition/error.hpp"

namespace trainmem {

std::string_view normalization_name(Normalization n) {
  return n == Normalization::layer_norm ? "LayerNorm" : "RMSNorm";
}
std::string_view activation_name(Activation a) {
  switch (a) {
    case Activation::gelu: return "gelu";
    case Activation::relu: return "relu";
    case Activation::swiglu: return "swiglu";
    case Activation::geglu: return "geglu";
  }
  return "gelu";
}
std::string_view position_embedding_name(PositionEmbedding p) {
  switch (p) {
    case PositionEmbedding::learned: return "learned_absolute";
    case PositionEmbedding::rope: return "rope";
    case PositionEmbedding::none: return "none";
  }
  return "none";
}

namespace {
// Upper bounds that no real model reaches; they keep products of sizes far from 2^64.
constexpr std::int64_t kMaxLayers = 100000;
constexpr std::int64_t kMaxHidden = 1 << 20;  // 1,048,576
constexpr std::int64_t kMaxFfn = 1 << 24;
constexpr std::int64_t kMaxHeads = 1 << 16;
constexpr std::int64_t kMaxVocab = 1 << 26;  // 67M tokens
constexpr std::int64_t kMaxPositions = 1LL << 32;
constexpr std::int64_t kMaxExperts = 1 << 16;

void require_range(const char* field, std::int64_t v, std::int64_t lo, std::int64_t hi) {
  if (v < lo || v > hi)
    throw ConfigError(field, std::to_string(v), "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
}

std::uint64_t u(std::int64_t v) { return static_cast<std::uint64_t>(v); }

ElementCount norm_params(const ModelSpec& m) {
  // LayerNorm has weight and bias (unless norm_bias is false); RMSNorm a weight only.
  return ElementCount(u(m.hidden_size) * (m.norm_has_bias() ? 2 : 1));
}
}  // namespace

void validate(const ModelSpec& m) {
  require_range("num_layers", m.num_layers, 1, kMaxLayers);
  require_range("hidden_size", m.hidden_size, 1, kMaxHidden);
  require_range("num_attention_heads", m.num_attention_heads, 1, kMaxHeads);
  if (m.ffn_hidden_size != 0) require_range("ffn_hidden_size", m.ffn_hidden_size, 1, kMaxFfn);
  if (m.num_query_groups != 0) require_range("num_query_groups", m.num_query_groups, 1, kMaxHeads);
  if (m.kv_channels != 0) require_range("kv_channels", m.kv_channels, 1, kMaxHidden);
  require_range("vocab_size", m.vocab_size, 1, kMaxVocab);
  if (m.max_position_embeddings != 0)
    require_range("max_position_embeddings", m.max_position_embeddings, 1, kMaxPositions);
  if (m.kv_channels == 0 && m.hidden_size % m.num_attention_heads != 0)
    throw ConfigError("num_attention_heads", std::to_string(m.num_attention_heads),
                      "does not divide hidden_size " + std::to_string(m.hidden_size) +
                          " (give kv_channels for a head dim that is not hidden_size/heads)");
  if (m.num_attention_heads % m.query_groups() != 0)
    throw ConfigError("num_query_groups", std::to_string(m.query_groups()),
                      "does not divide num_attention_heads " + std::to_string(m.num_attention_heads));
  if (m.num_experts != 0) {
    require_range("num_experts", m.num_experts, 1, kMaxExperts);
    require_range("moe_router_topk", m.moe_router_topk, 1, m.num_experts);
    if (m.moe_ffn_hidden_size != 0) require_range("moe_ffn_hidden_size", m.moe_ffn_hidden_size, 1, kMaxFfn);
  }
  if (m.shared_expert_ffn != 0) {
    if (m.num_experts == 0)
      throw ConfigError("shared_expert_ffn", std::to_string(m.shared_expert_ffn), "needs num_experts (an MoE model)");
    require_range("shared_expert_ffn", m.shared_expert_ffn, 1, kMaxFfn);
  }
  if (m.shared_expert_gate && m.shared_expert_ffn == 0)
    throw ConfigError("shared_expert_gate", "true", "needs a shared expert (shared_expert_ffn)");
  if (m.sliding_window != 0) require_range("sliding_window", m.sliding_window, 1, kMaxPositions);
  if (m.global_layer_every != 0) require_range("global_layer_every", m.global_layer_every, 1, kMaxLayers);
  if (m.kv_lora_rank != 0 || m.q_lora_rank != 0 || m.qk_rope_head_dim != 0 || m.v_head_dim != 0) {
    require_range("kv_lora_rank", m.kv_lora_rank, 1, kMaxHidden);  // the other MLA sizes need the latent
    if (m.q_lora_rank != 0) require_range("q_lora_rank", m.q_lora_rank, 1, kMaxHidden);
    require_range("qk_rope_head_dim", m.qk_rope_head_dim, 1, kMaxHidden);
    require_range("v_head_dim", m.v_head_dim, 1, kMaxHidden);
    if (m.kv_channels == 0)
      throw ConfigError("kv_channels", "0", "multi-latent attention needs qk_nope_head_dim as kv_channels");
    if (m.num_query_groups != 0 && m.num_query_groups != m.num_attention_heads)
      throw ConfigError("num_query_groups", std::to_string(m.num_query_groups),
                        "must be 0 or num_attention_heads with multi-latent attention (keys come from one latent)");
  }
  if (m.first_dense_layers != 0) {
    if (m.num_experts == 0)
      throw ConfigError("first_dense_layers", std::to_string(m.first_dense_layers), "needs num_experts (an MoE model)");
    require_range("first_dense_layers", m.first_dense_layers, 1, m.num_layers);
  }
  if (m.moe_router_bias && m.num_experts == 0)
    throw ConfigError("moe_router_bias", "true", "needs num_experts (an MoE model)");
  if (m.mtp_layers != 0) require_range("mtp_layers", m.mtp_layers, 1, 64);
  if (m.post_norm && (m.sandwich_norm || m.parallel_residual))
    throw ConfigError("post_norm", "true",
                      std::string("cannot be combined with ") +
                          (m.sandwich_norm ? "sandwich_norm" : "parallel_residual") +
                          " (post-norm layers have no input norms)");
  if (m.parallel_shared_norm && (!m.parallel_residual || m.is_moe()))
    throw ConfigError("parallel_shared_norm", "true",
                      m.is_moe() ? "a shared norm feeding an MoE router is not modelled" : "needs parallel_residual");
  if (m.qk_norm_full_width && (!m.qk_norm || m.mla()))
    throw ConfigError("qk_norm_full_width", "true",
                      m.mla() ? "multi-latent attention has no q/k norm of that shape" : "needs qk_norm");
  // NaN fails both comparisons: !(x >= 0) catches it.
  if (!(m.final_logit_softcapping >= 0.0) || m.final_logit_softcapping > 1e6)
    throw ConfigError("final_logit_softcapping", std::to_string(m.final_logit_softcapping),
                      "must be 0 (off) or a positive cap");
  if (!(m.attn_logit_softcapping >= 0.0) || m.attn_logit_softcapping > 1e6)
    throw ConfigError("attn_logit_softcapping", std::to_string(m.attn_logit_softcapping),
                      "must be 0 (off) or a positive cap");
}

std::string_view architecture_extension(const ModelSpec& m) {
  if (m.mla()) return "kv_lora_rank";
  if (m.first_dense_layers != 0) return "first_dense_layers";
  if (m.moe_router_bias) return "moe_router_bias";
  if (m.mtp_layers != 0) return "mtp_layers";
  if (m.qk_norm) return "qk_norm";
  if (m.sandwich_norm) return "sandwich_norm";
  if (m.post_norm) return "post_norm";
  if (m.parallel_residual) return "parallel_residual";
  if (m.activation == Activation::geglu) return "activation";
  if (m.shared_expert_ffn != 0) return "shared_expert_ffn";
  if (m.final_logit_softcapping > 0.0) return "final_logit_softcapping";
  if (m.attn_logit_softcapping > 0.0) return "attn_logit_softcapping";
  if (m.sliding_window != 0) return "sliding_window";
  return {};
}

namespace {
// Multi-head latent attention, per rank. Megatron MLASelfAttention: the down projections (q_a, kv_a) and their
// RMSNorms are whole on every TP rank; the up projections (q_b or q_proj, kv_b) are column-parallel by heads and
// o_proj row-parallel, like QKV/out-proj. HF DeepseekV2Attention: the same modules, attention_bias false.
void add_mla(const ModelSpec& m, const TensorSplit& s,
             const std::function<void(std::string, std::string, ElementCount)>& add) {
  const std::uint64_t h = u(m.hidden_size), heads = u(m.num_attention_heads / s.tp);
  const std::uint64_t nope = u(m.head_dim()), rope = u(m.qk_rope_head_dim), v = u(m.v_head_dim);
  const std::uint64_t kv_lora = u(m.kv_lora_rank), q_lora = u(m.q_lora_rank);
  const std::string H = std::to_string(h), TP = std::to_string(s.tp), A = std::to_string(m.num_attention_heads);
  const std::string NOPE = std::to_string(nope), ROPE = std::to_string(rope), V = std::to_string(v);
  const std::string KVL = std::to_string(kv_lora), QL = std::to_string(q_lora);
  const std::uint64_t qk = nope + rope;
  if (q_lora == 0) {
    add("MLA q_proj weight", "h*heads*(nope+rope)/tp = " + H + "*" + A + "*(" + NOPE + "+" + ROPE + ")/" + TP,
        ElementCount(h) * (heads * qk));
  } else {
    add("MLA q_a_proj weight", "h*q_lora (whole on every tp rank) = " + H + "*" + QL, ElementCount(h) * q_lora);
    add("MLA q_a_layernorm (RMSNorm weight, replicated)", "q_lora = " + QL, ElementCount(q_lora));
    add("MLA q_b_proj weight", "q_lora*heads*(nope+rope)/tp = " + QL + "*" + A + "*(" + NOPE + "+" + ROPE + ")/" + TP,
        ElementCount(q_lora) * (heads * qk));
  }
  add("MLA kv_a_proj_with_mqa weight",
      "h*(kv_lora+rope) (whole on every tp rank) = " + H + "*(" + KVL + "+" + ROPE + ")",
      ElementCount(h) * (kv_lora + rope));
  add("MLA kv_a_layernorm (RMSNorm weight, replicated)", "kv_lora = " + KVL, ElementCount(kv_lora));
  add("MLA kv_b_proj weight", "kv_lora*heads*(nope+v)/tp = " + KVL + "*" + A + "*(" + NOPE + "+" + V + ")/" + TP,
      ElementCount(kv_lora) * (heads * (nope + v)));
  add("MLA o_proj weight", "heads*v*h/tp = " + A + "*" + V + "*" + H + "/" + TP, ElementCount(heads * v) * h);
}
}  // namespace

std::vector<LayerParamItem> layer_param_items(const ModelSpec& m, const TensorSplit& s, bool dense_layer) {
  const std::uint64_t h = u(m.hidden_size);
  const std::uint64_t d = u(m.head_dim());
  const std::uint64_t q_heads = u(m.num_attention_heads / s.tp);
  const std::uint64_t kv_heads = u(m.query_groups() / s.tp);
  const std::uint64_t qkv_out = (q_heads + 2 * kv_heads) * d;
  const std::string H = std::to_string(h), D = std::to_string(d), TP = std::to_string(s.tp);
  const std::string heads = std::to_string(m.num_attention_heads), kv = std::to_string(m.query_groups());

  std::vector<LayerParamItem> items;
  auto add = [&items](std::string name, std::string formula, ElementCount n, bool expert = false) {
    items.push_back({std::move(name), std::move(formula), n, expert});
  };
  if (m.mla()) {
    add_mla(m, s, [&add](std::string n, std::string f, ElementCount c) { add(std::move(n), std::move(f), c); });
  } else {
    // Attention: QKV is column-parallel (weight and bias split), out-proj row-parallel (bias replicated).
    add("attention QKV weight",
        "h*(heads+2*kv_heads)*head_dim/tp = " + H + "*(" + heads + "+2*" + kv + ")*" + D + "/" + TP,
        ElementCount(h) * qkv_out);
    if (m.add_bias_linear || m.add_qkv_bias)
      add("attention QKV bias", "(heads+2*kv_heads)*head_dim/tp = (" + heads + "+2*" + kv + ")*" + D + "/" + TP,
          ElementCount(qkv_out));
    add("attention out-proj weight", "heads*head_dim*h/tp = " + heads + "*" + D + "*" + H + "/" + TP,
        ElementCount(q_heads * d) * h);
    if (m.add_bias_linear) add("attention out-proj bias (replicated)", "h = " + H, ElementCount(h));
  }
  if (m.qk_norm && m.qk_norm_full_width)  // OLMo 2: one weight element per q and k channel, sliced with the heads
    add("q_norm + k_norm (RMSNorm weight over the whole q and k widths)",
        "(heads+kv_heads)*head_dim/tp = (" + heads + "+" + kv + ")*" + D + "/" + TP,
        ElementCount((q_heads + kv_heads) * d));
  else if (m.qk_norm)  // one weight of head_dim shared by all heads, for q and for k; each rank holds whole heads
    add("q_norm + k_norm (RMSNorm weight over head_dim, replicated)", "2*head_dim = 2*" + D, ElementCount(2 * d));
  const bool ln = m.normalization == Normalization::layer_norm, bias = m.norm_has_bias();
  const std::uint64_t norms = u(m.norms_per_layer());
  const std::string N = std::to_string(norms);
  add(N + " norms (" +
          (bias ? "LayerNorm weight+bias"
           : ln ? "LayerNorm weight, no bias"
                : "RMSNorm weight") +
          ", replicated)",
      bias ? N + "*2*h = " + std::to_string(2 * norms) + "*" + H : N + "*h = " + N + "*" + H,
      ElementCount(h * norms * (bias ? 2 : 1)));

  // MLP (dense, or each expert): fc1 column-parallel (split weight and bias), fc2 row-parallel.
  auto mlp = [&](const std::string& prefix, std::int64_t ffn, std::int64_t split, std::uint64_t copies,
                 const std::string& copies_text, bool expert) {
    const std::uint64_t f = u(ffn / split);
    const std::string F = std::to_string(ffn), S = std::to_string(split);
    const bool gated = m.gated_mlp();
    const std::string fc1 = gated ? "gate+up" : "up (fc1)";
    add(prefix + fc1 + " weight",
        copies_text + (gated ? "2*" : "") + "h*ffn/" + (expert ? "etp" : "tp") + " = " + copies_text +
            (gated ? "2*" : "") + H + "*" + F + "/" + S,
        ElementCount(h) * (f * (gated ? 2 : 1)) * copies, expert);
    add(prefix + "down (fc2) weight",
        copies_text + "ffn*h/" + std::string(expert ? "etp" : "tp") + " = " + copies_text + F + "*" + H + "/" + S,
        ElementCount(f) * h * copies, expert);
    if (m.add_bias_linear) {
      add(prefix + fc1 + " bias", copies_text + (gated ? "2*" : "") + "ffn/" + (expert ? "etp" : "tp"),
          ElementCount(f * (gated ? 2 : 1)) * copies, expert);
      add(prefix + "down (fc2) bias (replicated)", copies_text + "h", ElementCount(h) * copies, expert);
    }
  };
  if (m.is_moe() && !dense_layer) {
    add("router (replicated)", "h*num_experts = " + H + "*" + std::to_string(m.num_experts),
        ElementCount(h) * u(m.num_experts));
    if (m.moe_router_bias)
      add("router score-correction bias (replicated)", "num_experts = " + std::to_string(m.num_experts),
          ElementCount(u(m.num_experts)));
    const std::uint64_t local = u(m.num_experts / s.ep);
    mlp("experts ", m.expert_ffn(), s.etp, local, std::to_string(local) + " experts * ", true);
    if (m.shared_expert_ffn != 0) {  // dense: TP-split, replicated over ep, sharded with the dense part
      if (m.shared_expert_ffn % s.tp != 0)
        throw ConfigError("tensor_model_parallel_size", std::to_string(s.tp),
                          "does not divide shared_expert_ffn " + std::to_string(m.shared_expert_ffn));
      mlp("shared expert ", m.shared_expert_ffn, s.tp, 1, "", false);
    }
    if (m.shared_expert_gate) add("shared expert gate (replicated)", "h*1 = " + H, ElementCount(h));
  } else {
    mlp("MLP ", m.ffn(), s.tp, 1, "", false);
  }
  return items;
}

LayerParams layer_params(const ModelSpec& m, const TensorSplit& s, bool dense_layer) {
  LayerParams p;
  for (const auto& item : layer_param_items(m, s, dense_layer)) (item.expert ? p.expert : p.dense) += item.count;
  return p;
}

ElementCount mtp_extra_params(const ModelSpec& m, std::int64_t tp) {
  const std::uint64_t h = u(m.hidden_size);
  // enorm + hnorm + final norm over h, eh_proj 2h -> h (column-parallel, no bias).
  return norm_params(m) * 3 + ElementCount(2 * h) * (h / u(tp));
}

std::int64_t padded_vocab_size(std::int64_t vocab, std::int64_t divisible_by, std::int64_t tp) {
  const std::int64_t multiple = divisible_by * tp;
  return (vocab + multiple - 1) / multiple * multiple;
}

std::vector<ParamTerm> parameter_terms(const ModelSpec& m) {
  const LayerParams layer = layer_params(m, TensorSplit{});
  const std::uint64_t h = u(m.hidden_size);
  const std::uint64_t dense_layers = u(m.first_dense_layers);
  std::vector<ParamTerm> terms;
  terms.push_back({"word_embeddings", ElementCount(u(m.vocab_size)) * h});
  if (m.position_embedding == PositionEmbedding::learned)
    terms.push_back({"position_embeddings", ElementCount(u(m.max_position_embeddings)) * h});
  if (dense_layers > 0) {
    const LayerParams dense = layer_params(m, TensorSplit{}, true);
    terms.push_back({"dense_transformer_layers", (dense.dense + dense.expert) * dense_layers});
  }
  terms.push_back({"transformer_layers", (layer.dense + layer.expert) * (u(m.num_layers) - dense_layers)});
  if (m.mtp_layers > 0)  // MoE layer + norms + eh_proj; embedding and output layer shared with the main model
    terms.push_back({"mtp_modules", (layer.dense + layer.expert + mtp_extra_params(m, 1)) * u(m.mtp_layers)});
  terms.push_back({"final_norm", norm_params(m)});
  if (!m.tie_embeddings) terms.push_back({"output_layer", ElementCount(u(m.vocab_size)) * h});
  return terms;
}

ElementCount total_parameters(const ModelSpec& m) {
  ElementCount total(0);
  for (const auto& t : parameter_terms(m)) total += t.count;
  return total;
}

}  // namespace trainmem
