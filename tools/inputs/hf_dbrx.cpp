#include "tools/inputs/hf_dbrx.hpp"

#include <algorithm>

#include "partition/error.hpp"

namespace trainmem::tools {
namespace {
using json = nlohmann::json;

// One JSON object of the config (the top level, attn_config or ffn_config) with the path of its keys.
struct Section {
  const json& j;
  std::string prefix;  // "" or "attn_config."
  std::string origin;

  std::string field(const char* key) const { return prefix + key + " (in " + origin + ")"; }
  bool has(const char* key) const { return j.contains(key) && !j[key].is_null(); }
  std::int64_t integer(const char* key) const {
    if (!has(key)) throw ConfigError(field(key), "(missing)", "required by model_type dbrx");
    const json& v = j[key];
    if (!v.is_number_integer()) throw ConfigError(field(key), v.dump(), "must be an integer");
    const auto x = v.get<std::int64_t>();
    if (x < 1) throw ConfigError(field(key), v.dump(), "must be positive");
    return x;
  }
  const json& object(const char* key) const {
    if (!has(key)) throw ConfigError(field(key), "(missing)", "required by model_type dbrx");
    if (!j[key].is_object()) throw ConfigError(field(key), j[key].dump(), "must be a JSON object");
    return j[key];
  }
};

// The config key each validated ModelSpec field comes from, so that a shape error names the key the user wrote.
const char* dbrx_key(const std::string& field) {
  static constexpr const char* kKeys[][2] = {{"num_layers", "n_layers"},
                                             {"hidden_size", "d_model"},
                                             {"num_attention_heads", "n_heads"},
                                             {"num_query_groups", "attn_config.kv_n_heads"},
                                             {"vocab_size", "vocab_size"},
                                             {"ffn_hidden_size", "ffn_config.ffn_hidden_size"},
                                             {"num_experts", "ffn_config.moe_num_experts"},
                                             {"moe_router_topk", "ffn_config.moe_top_k"}};
  for (const auto& k : kKeys)
    if (field == k[0]) return k[1];
  return nullptr;
}
}  // namespace

// transformers models/dbrx (modeling_dbrx.py): wte Embedding(vocab, d_model); per block norm_1 and norm_2
// (nn.LayerNorm(d_model, bias=False)), Wqkv Linear(d_model, d_model + 2*kv_n_heads*head_dim, bias=False) with
// head_dim = d_model / n_heads, out_proj Linear(d_model, d_model, bias=False), router Linear(d_model,
// moe_num_experts, bias=False) and the experts' w1, v1, w2, each [moe_num_experts * ffn_hidden_size, d_model]:
// act(x w1^T) * (x v1^T), then w2 (a gated MLP); norm_f LayerNorm without bias; lm_head untied (DbrxConfig refuses
// tie_word_embeddings); RoPE (attn_config.rope_theta).
ModelSpec model_from_dbrx_config(const json& j, const std::string& origin) {
  const Section top{j, "", origin};
  const Section attn{top.object("attn_config"), "attn_config.", origin};
  const Section ffn{top.object("ffn_config"), "ffn_config.", origin};
  ModelSpec m;
  m.num_layers = top.integer("n_layers");
  m.hidden_size = top.integer("d_model");
  m.num_attention_heads = top.integer("n_heads");
  m.vocab_size = top.integer("vocab_size");
  m.num_query_groups = attn.integer("kv_n_heads");
  m.ffn_hidden_size = ffn.integer("ffn_hidden_size");
  m.num_experts = ffn.integer("moe_num_experts");
  m.moe_router_topk = ffn.integer("moe_top_k");
  m.normalization = Normalization::layer_norm;
  m.norm_bias = false;
  m.activation = Activation::swiglu;
  m.position_embedding = PositionEmbedding::rope;
  m.add_bias_linear = false;
  m.tie_embeddings = false;
  if (top.has("tie_word_embeddings")) {
    const json& t = j["tie_word_embeddings"];
    if (!t.is_boolean() || t.get<bool>())
      throw ConfigError(top.field("tie_word_embeddings"), t.dump(),
                        "DBRX has an untied lm_head (DbrxConfig refuses true)");
  }
  if (top.has("use_cache")) {
    if (!j["use_cache"].is_boolean())
      throw ConfigError(top.field("use_cache"), j["use_cache"].dump(), "must be true or false");
    m.use_cache = j["use_cache"].get<bool>();
  }
  // ffn_act_fn {"name": "silu"} (the default when absent): the experts' gate; another function is refused.
  if (ffn.has("ffn_act_fn")) {
    const json& act = ffn.j["ffn_act_fn"];
    if (!act.is_object() || (act.contains("name") && act["name"] != "silu"))
      throw ConfigError(ffn.field("ffn_act_fn"), act.dump(),
                        "this model_type is modelled with {\"name\": \"silu\"} only");
  }
  try {
    validate(m);
  } catch (const ConfigError& e) {
    const char* key = dbrx_key(e.field());
    if (key == nullptr) throw;
    // e.what() is "FIELD = VALUE: REASON" (partition/error.hpp); keep the reason, rename the field.
    const std::string what = e.what();
    const std::string reason = what.substr(std::min(what.size(), e.field().size() + 3 + e.value().size() + 2));
    throw ConfigError(std::string(key) + " (in " + origin + ")", e.value(), reason);
  }
  return m;
}

}  // namespace trainmem::tools
