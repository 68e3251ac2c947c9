// ModelSpec: the shape of a decoder-only transformer (dense or MoE) and its exact parameter count.
// Parameter formulas follow the Megatron-LM / Hugging Face module layout (QKV, out-proj, MLP, norms,
// embeddings); counts reproduce published totals (Llama-2-7B 6,738,415,616; GPT-2 large 774,030,080;
// Qwen3-8B 8,190,735,360; Gemma-2-9B 9,241,705,984; Pythia-6.9B 6,857,302,016; OLMo-2-1124-7B 7,298,617,344).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "partition/units.hpp"

namespace trainmem {

enum class Normalization { layer_norm, rms_norm };
enum class Activation { gelu, relu, swiglu, geglu };  // geglu: gelu(gate) * up (Gemma)
enum class PositionEmbedding { learned, rope, none };

std::string_view normalization_name(Normalization n);
std::string_view activation_name(Activation a);
std::string_view position_embedding_name(PositionEmbedding p);

struct ModelSpec {
  std::string name = "custom";
  std::int64_t num_layers = 0;
  std::int64_t hidden_size = 0;
  std::int64_t ffn_hidden_size = 0;  // 0 = 4 * hidden_size
  std::int64_t num_attention_heads = 0;
  std::int64_t num_query_groups = 0;  // kv heads; 0 = num_attention_heads (MHA)
  std::int64_t kv_channels = 0;       // head dim; 0 = hidden_size / num_attention_heads
  std::int64_t vocab_size = 50257;
  std::int64_t max_position_embeddings = 0;  // rows of the learned position table (0 = seq_length)
  Normalization normalization = Normalization::layer_norm;
  // LayerNorm with a bias (weight and bias, 2h); false: weight only, h (DBRX's nn.LayerNorm(bias=False)).
  // RMSNorm has no bias either way.
  bool norm_bias = true;
  Activation activation = Activation::gelu;
  PositionEmbedding position_embedding = PositionEmbedding::learned;
  bool tie_embeddings = true;   // LM head shares the word embedding
  bool add_bias_linear = true;  // biases on QKV, out-proj and MLP linears
  bool add_qkv_bias = false;    // QKV bias even when add_bias_linear is false (Qwen2)
  // transformers' config `use_cache` (default true): a training forward still builds a DynamicCache, whose K/V
  // concatenations are what attention saves (only the hf framework profile reads it; docs/frameworks.md).
  bool use_cache = true;
  // Mixture of experts: every layer's MLP is replaced by num_experts experts (0 = dense).
  std::int64_t num_experts = 0;
  std::int64_t moe_router_topk = 2;
  std::int64_t moe_ffn_hidden_size = 0;  // 0 = ffn_hidden_size
  // Shared expert (Qwen2-MoE): a dense MLP of this width that every token passes through besides its routed
  // experts (0 = none), TP-split like a dense MLP; with shared_expert_gate its output is scaled by
  // sigmoid(h -> 1 linear) (Qwen2MoeSparseMoeBlock.shared_expert_gate).
  std::int64_t shared_expert_ffn = 0;
  bool shared_expert_gate = false;
  // Architecture variants beyond the Llama / GPT-2 layouts.
  bool qk_norm = false;            // RMSNorm weights over head_dim on each query and key head (Qwen3, Gemma 3)
  bool sandwich_norm = false;      // Gemma 2/3: norms on the attention and MLP outputs too (4 norms per layer)
  bool parallel_residual = false;  // GPT-NeoX: x + attn(ln1(x)) + mlp(ln2(x)), both norms read the layer input
  // With parallel_residual: one input norm whose output feeds both attention and MLP, x + attn(ln(x)) + mlp(ln(x))
  // (Falcon-7B input_layernorm; 1 norm per layer).
  bool parallel_shared_norm = false;
  // OLMo 2 post-norm: x + norm(attn(x)), then + norm(mlp(.)): the 2 norms of a layer sit on the attention and MLP
  // outputs (post_attention_layernorm, post_feedforward_layernorm), none on their inputs (same count as pre-norm).
  bool post_norm = false;
  // With qk_norm: q_norm spans the whole q projection (heads*head_dim) and k_norm the whole k projection
  // (kv_heads*head_dim) instead of one head_dim weight shared by the heads (OLMo 2). Under TP each rank holds the
  // slice of its heads (the RMS statistic then needs a cross-rank sum of squares, s*b floats: not counted).
  bool qk_norm_full_width = false;
  // Sliding-window (local) attention: layers that attend to the last `sliding_window` tokens only; with
  // global_layer_every N, layers N-1, 2N-1, ... (0-based) are global and the others local (Gemma 2: N = 2,
  // Gemma 3: N = 6). 0 = every layer global. Only the KV cache of inference changes (a local layer keeps
  // at most sliding_window tokens); training saves the same tensors.
  std::int64_t sliding_window = 0;
  std::int64_t global_layer_every = 0;
  // tanh soft-capping (Gemma 2): cap * tanh(x / cap) on the final logits and on the attention scores; each
  // keeps its tanh output for backward (0 = off).
  double final_logit_softcapping = 0.0;
  double attn_logit_softcapping = 0.0;
  // Multi-head latent attention (DeepSeek-V2/V3, HF DeepseekV2Attention / Megatron MLASelfAttention), on when
  // kv_lora_rank > 0. Keys and values come from one compressed latent: kv_a_proj_with_mqa h -> kv_lora_rank +
  // qk_rope_head_dim (the rope part is one key head shared by all heads), kv_a_layernorm (RMSNorm over
  // kv_lora_rank), kv_b_proj kv_lora_rank -> heads * (qk_nope_head_dim + v_head_dim). Queries: q_a_proj h ->
  // q_lora_rank, q_a_layernorm, q_b_proj q_lora_rank -> heads * (qk_nope + qk_rope); q_lora_rank 0 = one q_proj
  // h -> heads * (qk_nope + qk_rope) (DeepSeek-V2-Lite). o_proj heads * v_head_dim -> h. kv_channels holds
  // qk_nope_head_dim; num_query_groups must be 0.
  std::int64_t q_lora_rank = 0;
  std::int64_t kv_lora_rank = 0;
  std::int64_t qk_rope_head_dim = 0;
  std::int64_t v_head_dim = 0;
  // MoE models whose first layers keep a dense MLP of ffn_hidden_size (DeepSeek first_k_dense_replace); the
  // others are MoE layers with experts of moe_ffn_hidden_size.
  std::int64_t first_dense_layers = 0;
  // A learned per-expert bias added to the router scores for top-k selection (DeepSeek-V3 auxiliary-loss-free
  // balancing, e_score_correction_bias): num_experts parameters per MoE layer.
  bool moe_router_bias = false;
  // Multi-token prediction modules (DeepSeek-V3 num_nextn_predict_layers, Megatron --mtp-num-layers): each is
  // enorm + hnorm (norms over h), eh_proj (2h -> h), one transformer layer (MoE) and a final norm, sharing the
  // word embedding and output layer with the main model; held by the last pipeline stage. 0 = none.
  std::int64_t mtp_layers = 0;

  // Derived values (apply the defaults above).
  std::int64_t ffn() const { return ffn_hidden_size != 0 ? ffn_hidden_size : 4 * hidden_size; }
  std::int64_t query_groups() const { return num_query_groups != 0 ? num_query_groups : num_attention_heads; }
  std::int64_t head_dim() const { return kv_channels != 0 ? kv_channels : hidden_size / num_attention_heads; }
  bool mla() const { return kv_lora_rank > 0; }
  std::int64_t qk_head_dim() const { return head_dim() + qk_rope_head_dim; }  // MLA: nope + rope per q/k head
  std::int64_t value_head_dim() const { return mla() ? v_head_dim : head_dim(); }
  // Whether layer `layer` (0-based, global) has the model's MoE block (false: a dense MLP of ffn()).
  bool moe_layer(std::int64_t layer) const { return is_moe() && layer >= first_dense_layers; }
  std::int64_t expert_ffn() const { return moe_ffn_hidden_size != 0 ? moe_ffn_hidden_size : ffn(); }
  bool is_moe() const { return num_experts > 0; }
  bool gated_mlp() const { return activation == Activation::swiglu || activation == Activation::geglu; }
  std::int64_t norms_per_layer() const { return sandwich_norm ? 4 : parallel_shared_norm ? 1 : 2; }
  // Whether a norm carries a bias besides its weight (LayerNorm with norm_bias).
  bool norm_has_bias() const { return normalization == Normalization::layer_norm && norm_bias; }
  // Whether layer `layer` (0-based, global index) attends within the sliding window only.
  bool local_attention_layer(std::int64_t layer) const {
    return sliding_window > 0 && (global_layer_every == 0 || (layer + 1) % global_layer_every != 0);
  }
};

// The first field set beyond the Llama / GPT-2 module layouts ("qk_norm", "sandwich_norm", ...), or an empty
// view when there is none: code that models those layouts tensor by tensor (the hf framework profile) refuses it.
std::string_view architecture_extension(const ModelSpec& model);

// Throws ConfigError naming the field when a size is missing, non-positive, absurd or inconsistent.
void validate(const ModelSpec& model);

// How the parameters of one layer (or of the model) are split across ranks.
struct TensorSplit {
  std::int64_t tp = 1;   // tensor parallel: column/row-parallel linears, vocab-parallel embedding
  std::int64_t etp = 1;  // expert tensor parallel
  std::int64_t ep = 1;   // expert parallel: experts per rank = num_experts / ep
};

// Parameters one rank holds of one transformer layer: dense (attention, norms, router, dense MLP) and
// expert (routed experts), which ZeRO shards over different data-parallel groups.
struct LayerParams {
  ElementCount dense;
  ElementCount expert;
};
// `dense_layer`: one of an MoE model's first_dense_layers (a dense MLP of ffn_hidden_size instead of the MoE block).
LayerParams layer_params(const ModelSpec& model, const TensorSplit& split, bool dense_layer = false);

// The same count itemised for explanations: each module with its formula, numbers substituted.
struct LayerParamItem {
  std::string name;     // "attention QKV weight"
  std::string formula;  // "h * (heads + 2*kv_heads) * head_dim / tp = 4096 * (32 + 2*8) * 128 / 1"
  ElementCount count;
  bool expert = false;
};
std::vector<LayerParamItem> layer_param_items(const ModelSpec& model, const TensorSplit& split,
                                              bool dense_layer = false);
// One multi-token-prediction module beyond its transformer layer (enorm, hnorm, eh_proj column-parallel over tp,
// final norm), per rank.
ElementCount mtp_extra_params(const ModelSpec& model, std::int64_t tp);

// Word-embedding rows after padding: Megatron pads the vocabulary to a multiple of
// divisible_by * tp (make_vocab_size_divisible_by, default 128) so each TP rank gets equal rows.
std::int64_t padded_vocab_size(std::int64_t vocab_size, std::int64_t divisible_by, std::int64_t tp);

// Named parameter groups of the whole, unsharded, unpadded model (the published count is their sum).
struct ParamTerm {
  std::string name;
  ElementCount count;
};
std::vector<ParamTerm> parameter_terms(const ModelSpec& model);
ElementCount total_parameters(const ModelSpec& model);

}  // namespace trainmem
