#include "tools/inputs/hf_config.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "partition/error.hpp"
#include "tools/inputs/input_file.hpp"

namespace trainmem::tools {
namespace {
using json = nlohmann::json;

// OPT adds 2 rows to its position table; ModelSpec allows 2^32 rows, so the file may give 2^32 - 2.
constexpr std::int64_t kMaxOptPositions = (1LL << 32) - 2;

struct Reader {
  const json& j;
  std::string origin;

  std::string field(const char* key) const { return std::string(key) + " (in " + origin + ")"; }
  std::int64_t integer(const char* key) const {
    if (!j.contains(key)) throw ConfigError(field(key), "(missing)", "required by this model_type");
    return integer_or(key, 0);
  }
  std::int64_t integer_or(const char* key, std::int64_t fallback) const {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    const json& v = j[key];
    if (!v.is_number_integer()) throw ConfigError(field(key), v.dump(), "must be an integer");
    const auto x = v.get<std::int64_t>();
    if (x < 1) throw ConfigError(field(key), v.dump(), "must be positive");
    return x;
  }
  bool boolean_or(const char* key, bool fallback) const {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    if (!j[key].is_boolean()) throw ConfigError(field(key), j[key].dump(), "must be true or false");
    return j[key].get<bool>();
  }
};

ModelSpec llama_family(const Reader& r, const std::string& type) {
  ModelSpec m;
  m.num_layers = r.integer("num_hidden_layers");
  m.hidden_size = r.integer("hidden_size");
  m.ffn_hidden_size = r.integer("intermediate_size");
  m.num_attention_heads = r.integer("num_attention_heads");
  m.num_query_groups = r.integer_or("num_key_value_heads", m.num_attention_heads);
  m.kv_channels = r.integer_or("head_dim", 0);
  m.vocab_size = r.integer("vocab_size");
  m.normalization = Normalization::rms_norm;
  m.activation = Activation::swiglu;
  m.position_embedding = PositionEmbedding::rope;
  m.tie_embeddings = r.boolean_or("tie_word_embeddings", false);
  m.use_cache = r.boolean_or("use_cache", true);
  m.add_bias_linear = false;
  // Llama's attention_bias adds biases to q/k/v/o; we model the q/k/v part (o-proj bias: h params/layer more).
  m.add_qkv_bias = type == "qwen2" || r.boolean_or("attention_bias", false);
  if (type == "mixtral") {
    m.num_experts = r.integer("num_local_experts");
    m.moe_router_topk = r.integer_or("num_experts_per_tok", 2);
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
  };
  for (const auto& e : kKeys)
    if (field == e.field) return type == "gpt2" ? e.gpt2 : type == "opt" ? e.opt : e.llama;
  return nullptr;
}

}  // namespace

ModelSpec model_from_hf_config(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for numbers beyond double/int64 (fuzz finding: "1e400").
    throw ConfigError("model_config", origin, std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object()) throw ConfigError("model_config", origin, "must be a JSON object");
  const Reader r{j, origin};
  if (!j.contains("model_type") || !j["model_type"].is_string())
    throw ConfigError(r.field("model_type"), j.contains("model_type") ? j["model_type"].dump() : "(missing)",
                      "must name the architecture (llama, mistral, mixtral, qwen2, gpt2, opt)");
  const std::string type = j["model_type"].get<std::string>();
  ModelSpec m;
  if (type == "llama" || type == "mistral" || type == "mixtral" || type == "qwen2")
    m = llama_family(r, type);
  else if (type == "gpt2")
    m = gpt2_family(r);
  else if (type == "opt")
    m = opt_family(r);
  else
    throw ConfigError(r.field("model_type"), type, "unsupported; one of llama, mistral, mixtral, qwen2, gpt2, opt");
  m.name = j.contains("_name_or_path") && j["_name_or_path"].is_string()
               ? j["_name_or_path"].get<std::string>()
               : std::filesystem::path(origin).filename().string();
  try {
    validate(m);
  } catch (const ConfigError& e) {
    const char* key = hf_key(type, e.field());
    if (key == nullptr) throw;
    // e.what() is "FIELD = VALUE: REASON" (partition/error.hpp); keep the reason, rename the field.
    const std::string what = e.what();
    const std::string reason = what.substr(std::min(what.size(), e.field().size() + 3 + e.value().size() + 2));
    throw ConfigError(r.field(key), e.value(), reason);
  }
  if (m.ffn_hidden_size == 0) m.ffn_hidden_size = m.ffn();  // GPT-2's n_inner null: 4h, h now bounded
  return m;
}

ModelSpec load_hf_config(const std::string& path) {
  return model_from_hf_config(read_input_file("model_config", path, "config.json"), path);
}

}  // namespace trainmem::tools
