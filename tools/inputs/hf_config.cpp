#include "tools/inputs/hf_config.hpp"

#include <algorithm>
#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string_view>

#include "partition/error.hpp"
#include "tools/inputs/hf_dbrx.hpp"
#include "tools/inputs/input_file.hpp"
#include "tools/inputs/json_object.hpp"

namespace trainmem::tools {
namespace {
using json = nlohmann::json;

// OPT adds 2 rows to its position table; ModelSpec allows 2^32 rows, so the file may give 2^32 - 2.
constexpr std::int64_t kMaxOptPositions = (1LL << 32) - 2;

// Keys whose null transformers documents as "unset" and resolves itself; a null there reads as the key being
// absent (the same default). Every other key trainmem reads changes the memory, and transformers either fails
// on its null or reads it as false/0: such a null is an error naming the key, never a silent default. Keys
// trainmem does not read (rope_scaling, quantization_config, Qwen's sliding_window, ...) are ignored as before.
constexpr const char* kNullMeansUnset[] = {
    "num_key_value_heads",      // LlamaConfig & co: None = num_attention_heads (MHA)
    "head_dim",                 // None = hidden_size / num_attention_heads (gemma types require it: integer())
    "q_lora_rank",              // DeepSeek-V2-Lite: None = one q_proj
    "n_shared_experts",         // DeepseekV2Config: None = no shared experts
    "mlp_only_layers",          // Qwen2MoeConfig / Qwen3MoeConfig: None = []
    "layer_types",              // Gemma2/3: None = derived from the sliding-window pattern
    "final_logit_softcapping",  // Gemma2/3: None = no soft-capping
    "attn_logit_softcapping",   //
    "sliding_window",           // Starcoder2Config: None = full attention (gemma2/3 require it: integer())
    "hidden_activation",        // GemmaConfig: None = gelu_pytorch_tanh (hidden_act is then read)
    "ffn_hidden_size",          // FalconConfig: None = 4 * hidden_size
    "num_kv_heads",             // FalconConfig: None = num_attention_heads
    "num_ln_in_parallel_attn",  // FalconDecoderLayer: None = 2 with new_decoder_architecture
    "n_inner",                  // GPT2Config: None = 4 * n_embd
    "word_embed_proj_dim",      // OPTConfig: None = hidden_size
};

struct Reader {
  const json& j;
  std::string origin;

  std::string field(const char* key) const { return std::string(key) + " (in " + origin + ")"; }
  // True when the key has a value. An absent key, or a null for a kNullMeansUnset key, is false; a null for any
  // other key throws.
  bool has(const char* key) const {
    if (!j.contains(key)) return false;
    if (!j[key].is_null()) return true;
    for (const char* k : kNullMeansUnset)
      if (std::string_view(k) == key) return false;
    throw ConfigError(field(key), "null",
                      "is not a value for this key (transformers does not read null as a default here); give a "
                      "value or delete the key for the default");
  }
  std::int64_t integer(const char* key) const {
    if (!j.contains(key)) throw ConfigError(field(key), "(missing)", "required by this model_type");
    if (j[key].is_null()) throw ConfigError(field(key), "null", "required by this model_type (give a number)");
    return integer_or(key, 0);
  }
  std::int64_t integer_or(const char* key, std::int64_t fallback) const {
    if (!has(key)) return fallback;
    const json& v = j[key];
    if (!v.is_number_integer()) throw ConfigError(field(key), v.dump(), "must be an integer");
    const auto x = v.get<std::int64_t>();
    if (x < 1) throw ConfigError(field(key), v.dump(), "must be positive");
    return x;
  }
  bool boolean_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!j[key].is_boolean()) throw ConfigError(field(key), j[key].dump(), "must be true or false");
    return j[key].get<bool>();
  }
  double number_or(const char* key, double fallback) const {
    if (!has(key)) return fallback;
    if (!j[key].is_number()) throw ConfigError(field(key), j[key].dump(), "must be a number");
    return j[key].get<double>();
  }
  // A key whose value changes the layout in a way that is not modelled: refused unless absent or `allowed`.
  void refuse_bool(const char* key, bool allowed, const std::string& why) const {
    if (boolean_or(key, allowed) != allowed) throw ConfigError(field(key), j[key].dump(), why);
  }
  // The activation function: absent is the family's own; any value outside `accepted` is refused.
  void require_activation(const char* key, std::initializer_list<const char*> accepted) const {
    if (!has(key)) return;
    const std::string v = j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
    for (const char* a : accepted)
      if (v == a) return;
    std::string list;
    for (const char* a : accepted) list += (list.empty() ? "" : ", ") + std::string(a);
    throw ConfigError(field(key), j[key].dump(), "this model_type is modelled with " + list + " only");
  }
};

// Shapes shared by the Llama-style configs (llama, mistral, qwen2/3, phi3, gemma*, gpt_neox).
void read_llama_shape(const Reader& r, ModelSpec& m) {
  m.num_layers = r.integer("num_hidden_layers");
  m.hidden_size = r.integer("hidden_size");
  m.ffn_hidden_size = r.integer("intermediate_size");
  m.num_attention_heads = r.integer("num_attention_heads");
  m.num_query_groups = r.integer_or("num_key_value_heads", m.num_attention_heads);
  m.kv_channels = r.integer_or("head_dim", 0);
  m.vocab_size = r.integer("vocab_size");
  m.use_cache = r.boolean_or("use_cache", true);
}

// llama, mistral, mixtral, qwen2(_moe), qwen3(_moe), phi3, granite, smollm3 and olmo2: RMSNorm, SwiGLU, RoPE, no
// linear biases but Qwen2's q/k/v ones.
ModelSpec llama_family(const Reader& r, const std::string& type) {
  ModelSpec m;
  read_llama_shape(r, m);
  m.normalization = Normalization::rms_norm;
  m.activation = Activation::swiglu;
  m.position_embedding = PositionEmbedding::rope;
  // transformers' default when the key is absent: tied for SmolLM3Config, untied for the others.
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", type == "smollm3");
  m.add_bias_linear = false;
  r.require_activation("hidden_act", {"silu"});
  // attention_bias puts biases on q, k, v AND o_proj (LlamaAttention); only the q/k/v part is a ModelSpec
  // layout (Qwen2's), so a true value is refused rather than counted h parameters per layer short.
  r.refuse_bool("attention_bias", false, "o_proj bias is not modelled (only Qwen2's q/k/v biases are)");
  r.refuse_bool("mlp_bias", false, "MLP biases with a gated MLP are not modelled");
  m.add_qkv_bias = type == "qwen2" || type == "qwen2_moe";  // Qwen2(-MoE) q/k/v projections carry biases
  // Qwen2/3's optional sliding window: which layers use it (max_window_layers) changes the KV cache.
  r.refuse_bool("use_sliding_window", false, "Qwen sliding-window layers are not modelled");
  m.qk_norm = type == "qwen3" || type == "qwen3_moe";
  if (type == "olmo2") {  // Olmo2DecoderLayer: post_attention_layernorm / post_feedforward_layernorm on the branch
    m.post_norm = true;   // outputs, no input norms; Olmo2Attention's q_norm / k_norm over heads*head_dim and
    m.qk_norm = true;     // kv_heads*head_dim
    m.qk_norm_full_width = true;
  }
  if (type == "mixtral") {
    m.num_experts = r.integer("num_local_experts");
    m.moe_router_topk = r.integer_or("num_experts_per_tok", 2);
  }
  if (type == "qwen3_moe" || type == "qwen2_moe") {
    // Every layer an MoE layer: decoder_sparse_step 1 and no mlp_only_layers (all public Qwen2/3-MoE models).
    if (r.integer_or("decoder_sparse_step", 1) != 1)
      throw ConfigError(r.field("decoder_sparse_step"), r.j["decoder_sparse_step"].dump(),
                        "only 1 (every layer MoE) is modelled; dense layers between MoE layers are not");
    if (r.has("mlp_only_layers") && !(r.j["mlp_only_layers"].is_array() && r.j["mlp_only_layers"].empty()))
      throw ConfigError(r.field("mlp_only_layers"), r.j["mlp_only_layers"].dump(),
                        "only [] is modelled; dense layers among MoE layers are not");
    m.num_experts = r.integer("num_experts");
    m.moe_router_topk = r.integer("num_experts_per_tok");
    m.moe_ffn_hidden_size = r.integer("moe_intermediate_size");
  }
  if (type == "qwen2_moe") {  // plus one gated shared expert per layer (Qwen2MoeSparseMoeBlock)
    m.shared_expert_ffn = r.integer("shared_expert_intermediate_size");
    m.shared_expert_gate = true;
  }
  return m;
}

// deepseek_v2, deepseek_v3 (DeepseekV2Config / DeepseekV3Config): RMSNorm, SwiGLU, RoPE, untied, no biases;
// multi-head latent attention; the first first_k_dense_replace layers dense (intermediate_size), the others MoE
// (n_routed_experts of moe_intermediate_size, top num_experts_per_tok) with n_shared_experts shared experts that
// form one ungated MLP of n_shared_experts * moe_intermediate_size (DeepseekV2MoE.shared_experts).
ModelSpec deepseek_family(const Reader& r, const std::string& type) {
  ModelSpec m;
  read_llama_shape(r, m);
  m.kv_channels = r.integer("qk_nope_head_dim");
  if (m.num_query_groups != m.num_attention_heads)
    throw ConfigError(r.field("num_key_value_heads"), std::to_string(m.num_query_groups),
                      "must equal num_attention_heads: multi-latent attention has no KV head groups");
  m.num_query_groups = 0;
  m.normalization = Normalization::rms_norm;
  m.activation = Activation::swiglu;
  m.position_embedding = PositionEmbedding::rope;
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", false);
  m.add_bias_linear = false;
  r.require_activation("hidden_act", {"silu"});
  r.refuse_bool("attention_bias", false, "MLA projection biases are not modelled");
  m.q_lora_rank = r.integer_or("q_lora_rank", 0);  // null: one q_proj (DeepSeek-V2-Lite)
  m.kv_lora_rank = r.integer("kv_lora_rank");
  m.qk_rope_head_dim = r.integer("qk_rope_head_dim");
  m.v_head_dim = r.integer("v_head_dim");
  m.num_experts = r.integer("n_routed_experts");
  m.moe_router_topk = r.integer("num_experts_per_tok");
  m.moe_ffn_hidden_size = r.integer("moe_intermediate_size");
  if (r.integer_or("moe_layer_freq", 1) != 1)
    throw ConfigError(r.field("moe_layer_freq"), r.j["moe_layer_freq"].dump(),
                      "only 1 (every layer from first_k_dense_replace on is MoE) is modelled");
  if (r.has("first_k_dense_replace") && r.j["first_k_dense_replace"] != 0)
    m.first_dense_layers = r.integer("first_k_dense_replace");
  if (r.has("n_shared_experts")) m.shared_expert_ffn = r.integer("n_shared_experts") * m.moe_ffn_hidden_size;
  // topk_method: greedy / group_limited_greedy route on the scores alone; noaux_tc (DeepSeek-V3) adds the
  // per-expert e_score_correction_bias (num_experts values per MoE layer).
  const std::string topk = r.has("topk_method") && r.j["topk_method"].is_string()
                               ? r.j["topk_method"].get<std::string>()
                               : (type == "deepseek_v3" ? "noaux_tc" : "greedy");
  if (topk == "noaux_tc")
    m.moe_router_bias = true;
  else if (topk != "greedy" && topk != "group_limited_greedy")
    throw ConfigError(r.field("topk_method"), r.j["topk_method"].dump(),
                      "must be greedy, group_limited_greedy or noaux_tc");
  // num_nextn_predict_layers (DeepSeek-V3's MTP module) is not read: transformers builds no MTP module and skips
  // its checkpoint weights (model.layers.61.*); Megatron --mtp-num-layers sets ModelSpec mtp_layers.
  return m;
}

// gemma, gemma2, gemma3_text: head_dim given, GeGLU (gelu_pytorch_tanh gate), tied embeddings; Gemma 2/3 add
// norms on the attention and MLP outputs and alternate sliding-window layers; Gemma 3 adds q/k norms.
ModelSpec gemma_family(const Reader& r, const std::string& type) {
  ModelSpec m;
  read_llama_shape(r, m);
  m.kv_channels = r.integer("head_dim");
  m.normalization = Normalization::rms_norm;  // Gemma's RMSNorm scales by (1 + weight): one weight of h
  m.activation = Activation::geglu;
  m.position_embedding = PositionEmbedding::rope;
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", true);
  m.add_bias_linear = false;
  r.refuse_bool("attention_bias", false, "Gemma attention biases are not modelled");
  // GemmaConfig's hidden_act is overridden by hidden_activation (gelu_pytorch_tanh when null).
  r.require_activation("hidden_activation", {"gelu_pytorch_tanh", "gelu", "gelu_new"});
  if (!r.has("hidden_activation")) r.require_activation("hidden_act", {"gelu_pytorch_tanh", "gelu", "gelu_new"});
  if (type == "gemma") return m;
  m.sandwich_norm = true;
  m.qk_norm = type == "gemma3_text";
  m.sliding_window = r.integer("sliding_window");
  m.global_layer_every = type == "gemma2" ? 2 : r.integer_or("sliding_window_pattern", 6);
  if (r.has("layer_types")) {  // newer transformers write the per-layer list; it must match the periodic pattern
    const json& lt = r.j["layer_types"];
    if (!lt.is_array() || static_cast<std::int64_t>(lt.size()) != m.num_layers)
      throw ConfigError(r.field("layer_types"), lt.dump(), "must list num_hidden_layers attention types");
    for (std::size_t i = 0; i < lt.size(); ++i) {
      const std::string want =
          m.local_attention_layer(static_cast<std::int64_t>(i)) ? "sliding_attention" : "full_attention";
      if (lt[i] != want)
        throw ConfigError(r.field("layer_types"), lt[i].dump() + " at layer " + std::to_string(i),
                          "expected " + want + ": only one global layer every " + std::to_string(m.global_layer_every) +
                              " is modelled");
    }
  }
  m.final_logit_softcapping = r.number_or("final_logit_softcapping", 0.0);
  m.attn_logit_softcapping = r.number_or("attn_logit_softcapping", 0.0);
  return m;
}

// gpt_neox (Pythia): LayerNorm with bias, fused QKV with bias, GeLU MLP with biases, rotary on rotary_pct of
// each head, untied embed_out, and (use_parallel_residual) attention and MLP reading the same layer input.
ModelSpec neox_family(const Reader& r) {
  ModelSpec m;
  read_llama_shape(r, m);
  m.position_embedding = PositionEmbedding::rope;  // rotary_pct of each head rotated: no parameters, no tables
  const double rotary = r.number_or("rotary_pct", 1.0);
  if (!(rotary > 0.0 && rotary <= 1.0))
    throw ConfigError(r.field("rotary_pct"), r.j["rotary_pct"].dump(), "must be in (0, 1]");
  m.parallel_residual = r.boolean_or("use_parallel_residual", true);
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", false);
  r.refuse_bool("attention_bias", true, "GPT-NeoX without attention biases (MLP biases kept) is not modelled");
  r.require_activation("hidden_act", {"gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh"});
  return m;  // LayerNorm, gelu, biases: the ModelSpec defaults
}

// starcoder2 (Starcoder2Config): GQA with RoPE, LayerNorm (weight and bias), biases on q/k/v/o and on the
// non-gated MLP (c_fc, c_proj: use_bias), gelu_pytorch_tanh; every layer attends within sliding_window when given.
ModelSpec starcoder2_family(const Reader& r) {
  ModelSpec m;
  read_llama_shape(r, m);
  m.position_embedding = PositionEmbedding::rope;
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", true);
  m.add_bias_linear = r.boolean_or("use_bias", true);
  r.require_activation("hidden_act", {"gelu_pytorch_tanh", "gelu", "gelu_new"});
  m.sliding_window = r.integer_or("sliding_window", 0);  // all layers local: global_layer_every 0
  return m;                                              // LayerNorm, gelu: the ModelSpec defaults
}

// falcon (FalconConfig, FalconDecoderLayer): LayerNorm, a non-gated GeLU MLP of ffn_hidden_size (null: 4h), RoPE,
// biases on every linear only with bias: true, tied unless tie_word_embeddings: false. new_decoder_architecture
// (40B/180B): num_kv_heads KV heads, attention and MLP in parallel, two norms (ln_attn, ln_mlp) on the layer input
// unless num_ln_in_parallel_attn is 1. Otherwise (7B) multi_query gives one KV head (false: MHA) and parallel_attn
// one input_layernorm feeding both branches (false: the sequential GPT layout with two norms).
ModelSpec falcon_family(const Reader& r) {
  ModelSpec m;
  m.num_layers = r.integer("num_hidden_layers");
  m.hidden_size = r.integer("hidden_size");
  m.num_attention_heads = r.integer("num_attention_heads");
  m.ffn_hidden_size = r.integer_or("ffn_hidden_size", 0);  // 0 = 4h
  m.vocab_size = r.integer("vocab_size");
  m.use_cache = r.boolean_or("use_cache", true);
  m.position_embedding = PositionEmbedding::rope;
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", true);
  m.add_bias_linear = r.boolean_or("bias", false);
  r.require_activation("activation", {"gelu"});
  r.refuse_bool("alibi", false, "ALiBi attention biases are not modelled (RoPE only)");
  r.refuse_bool("apply_residual_connection_post_layernorm", false,
                "a residual taken after the input norm (original RW code) is not modelled");
  const std::int64_t kv = r.integer_or("num_kv_heads", m.num_attention_heads);
  if (r.boolean_or("new_decoder_architecture", false)) {
    m.num_query_groups = kv;
    m.parallel_residual = true;
    const std::int64_t lns = r.integer_or("num_ln_in_parallel_attn", 2);
    if (lns > 2) throw ConfigError(r.field("num_ln_in_parallel_attn"), std::to_string(lns), "must be 1 or 2");
    m.parallel_shared_norm = lns == 1;
  } else {
    const bool mq = r.boolean_or("multi_query", true);
    if (!mq && kv != m.num_attention_heads)  // FalconAttention: fused qkv of 3h, num_kv_heads is not read
      throw ConfigError(r.field("num_kv_heads"), std::to_string(kv),
                        "without new_decoder_architecture or multi_query the attention is MHA (num_attention_heads)");
    m.num_query_groups = mq ? 1 : m.num_attention_heads;
    m.parallel_residual = r.boolean_or("parallel_attn", true);
    m.parallel_shared_norm = m.parallel_residual;
  }
  return m;
}

ModelSpec gpt2_family(const Reader& r) {
  ModelSpec m;
  m.num_layers = r.integer("n_layer");
  m.hidden_size = r.integer("n_embd");
  m.num_attention_heads = r.integer("n_head");
  m.ffn_hidden_size = r.integer_or("n_inner", 0);  // 0 = 4h, filled in after validate() bounded h
  m.vocab_size = r.integer("vocab_size");
  m.max_position_embeddings = r.integer("n_positions");
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", true);
  m.use_cache = r.boolean_or("use_cache", true);
  return m;  // LayerNorm, GeLU, learned positions, biases
}

ModelSpec opt_family(const Reader& r) {
  ModelSpec m;
  m.num_layers = r.integer("num_hidden_layers");
  m.hidden_size = r.integer("hidden_size");
  m.ffn_hidden_size = r.integer("ffn_dim");
  m.num_attention_heads = r.integer("num_attention_heads");
  m.vocab_size = r.integer("vocab_size");
  // OPTLearnedPositionalEmbedding allocates max_position_embeddings + 2 rows (offset 2).
  const std::int64_t positions = r.integer("max_position_embeddings");
  if (positions > kMaxOptPositions)
    throw ConfigError(r.field("max_position_embeddings"), std::to_string(positions),
                      "must be at most " + std::to_string(kMaxOptPositions));
  m.max_position_embeddings = positions + 2;
  m.activation = Activation::relu;
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", true);
  m.add_bias_linear = r.boolean_or("enable_bias", true);
  if (r.integer_or("word_embed_proj_dim", m.hidden_size) != m.hidden_size)
    throw ConfigError(r.field("word_embed_proj_dim"), std::to_string(r.integer("word_embed_proj_dim")),
                      "differs from hidden_size; OPT's project_in/project_out layers (opt-350m) are not modelled");
  if (!r.boolean_or("do_layer_norm_before", true))
    throw ConfigError(r.field("do_layer_norm_before"), "false", "post-norm OPT (opt-350m) is not modelled");
  return m;
}
// The config.json key each ModelSpec field of a family comes from, so that a shape error found by
// validate() names the key the user wrote (GPT-2's n_embd, not hidden_size).
const char* hf_key(const std::string& type, const std::string& field) {
  struct Entry {
    const char* field;
    const char* llama;
    const char* gpt2;
    const char* opt;
  };
  static constexpr Entry kKeys[] = {
      {"num_layers", "num_hidden_layers", "n_layer", "num_hidden_layers"},
      {"hidden_size", "hidden_size", "n_embd", "hidden_size"},
      {"ffn_hidden_size", "intermediate_size", "n_inner", "ffn_dim"},
      {"num_attention_heads", "num_attention_heads", "n_head", "num_attention_heads"},
      {"num_query_groups", "num_key_value_heads", nullptr, nullptr},
      {"kv_channels", "head_dim", nullptr, nullptr},
      {"vocab_size", "vocab_size", "vocab_size", "vocab_size"},
      {"max_position_embeddings", nullptr, "n_positions", "max_position_embeddings"},
      {"num_experts", "num_local_experts", nullptr, nullptr},
      {"moe_router_topk", "num_experts_per_tok", nullptr, nullptr},
      {"moe_ffn_hidden_size", "moe_intermediate_size", nullptr, nullptr},
      {"shared_expert_ffn", "shared_expert_intermediate_size", nullptr, nullptr},
      {"sliding_window", "sliding_window", nullptr, nullptr},
      {"global_layer_every", "sliding_window_pattern", nullptr, nullptr},
      {"final_logit_softcapping", "final_logit_softcapping", nullptr, nullptr},
      {"attn_logit_softcapping", "attn_logit_softcapping", nullptr, nullptr},
  };
  if ((type == "qwen3_moe" || type == "qwen2_moe") && field == "num_experts") return "num_experts";
  if (type == "falcon" && field == "ffn_hidden_size") return "ffn_hidden_size";
  if (type == "falcon" && field == "num_query_groups") return "num_kv_heads";
  if (type == "deepseek_v2" || type == "deepseek_v3") {
    static constexpr const char* kDeepseek[][2] = {{"num_experts", "n_routed_experts"},
                                                   {"kv_channels", "qk_nope_head_dim"},
                                                   {"first_dense_layers", "first_k_dense_replace"},
                                                   {"q_lora_rank", "q_lora_rank"},
                                                   {"kv_lora_rank", "kv_lora_rank"},
                                                   {"qk_rope_head_dim", "qk_rope_head_dim"},
                                                   {"v_head_dim", "v_head_dim"},
                                                   {"shared_expert_ffn", "n_shared_experts"}};
    for (const auto& e : kDeepseek)
      if (field == e[0]) return e[1];
  }
  for (const auto& e : kKeys)
    if (field == e.field) return type == "gpt2" ? e.gpt2 : type == "opt" ? e.opt : e.llama;
  return nullptr;
}

// model_type values read by each family. granite and smollm3 are the Llama module layout exactly: Granite's
// embedding/residual/attention/logits multipliers are scalars and SmolLM3's NoPE layers only skip RoPE, neither
// adds parameters or saved tensors. phi3's fused qkv_proj and gate_up_proj hold the same weights as Llama's
// separate q/k/v and gate/up projections (same count, same activations).
constexpr const char* kLlamaTypes[] = {"llama",     "mistral", "mixtral", "qwen2",   "qwen2_moe", "qwen3",
                                       "qwen3_moe", "phi3",    "granite", "smollm3", "olmo2"};
constexpr const char* kGemmaTypes[] = {"gemma", "gemma2", "gemma3_text"};
constexpr const char* kSupported =
    "llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe, phi3, granite, smollm3, olmo2, gemma, gemma2, "
    "gemma3_text, "
    "deepseek_v2, deepseek_v3, dbrx, starcoder2, falcon, gpt_neox, gpt2, opt";

template <std::size_t N>
bool one_of(const std::string& type, const char* const (&types)[N]) {
  for (const char* t : types)
    if (type == t) return true;
  return false;
}

}  // namespace

ModelSpec model_from_hf_config(const std::string& text, const std::string& origin) {
  const json j = parse_json_object(text, "model_config", origin, origin);
  const Reader r{j, origin};
  if (!j.contains("model_type") || !j["model_type"].is_string())
    throw ConfigError(r.field("model_type"), j.contains("model_type") ? j["model_type"].dump() : "(missing)",
                      std::string("must name the architecture (") + kSupported + ")");
  const std::string type = j["model_type"].get<std::string>();
  ModelSpec m;
  if (one_of(type, kLlamaTypes))
    m = llama_family(r, type);
  else if (one_of(type, kGemmaTypes))
    m = gemma_family(r, type);
  else if (type == "deepseek_v2" || type == "deepseek_v3")
    m = deepseek_family(r, type);
  else if (type == "dbrx")
    m = model_from_dbrx_config(j, origin);  // tools/inputs/hf_dbrx.cpp: nested attn_config / ffn_config
  else if (type == "gpt_neox")
    m = neox_family(r);
  else if (type == "starcoder2")
    m = starcoder2_family(r);
  else if (type == "falcon")
    m = falcon_family(r);
  else if (type == "RefinedWeb" || type == "RefinedWebModel")
    throw ConfigError(r.field("model_type"), type,
                      "the original Falcon remote-code config; use the repository's current config.json "
                      "(model_type falcon, num_hidden_layers / num_attention_heads / num_kv_heads)");
  else if (type == "gemma3")
    throw ConfigError(r.field("model_type"), type,
                      "an image-text model whose vision tower is not modelled; save its text_config as a "
                      "config.json of its own (model_type gemma3_text) to size the language model");
  else if (type == "gpt2")
    m = gpt2_family(r);
  else if (type == "opt")
    m = opt_family(r);
  else
    throw ConfigError(r.field("model_type"), type, std::string("unsupported; one of ") + kSupported);
  m.name = j.contains("_name_or_path") && j["_name_or_path"].is_string()
               ? j["_name_or_path"].get<std::string>()
               : std::filesystem::path(origin).filename().string();
  try {
    validate(m);
  } catch (const ConfigError& e) {
    const char* key = hf_key(type, e.field());
    if (key == nullptr) throw;
    throw ConfigError(r.field(key), e.value(), e.reason());  // keep the reason, rename the field
  }
  if (m.ffn_hidden_size == 0) m.ffn_hidden_size = m.ffn();  // GPT-2's n_inner null: 4h, h now bounded
  return m;
}

ModelSpec load_hf_config(const std::string& path) {
  return model_from_hf_config(read_input_file("model_config", path, "config.json"), path);
}

}  // namespace trainmem::tools
