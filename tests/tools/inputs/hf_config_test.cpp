// Hugging Face config.json loading: each family's published configuration gives the published count.
#include "tools/inputs/hf_config.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"

namespace trainmem::tools {
namespace {

std::uint64_t params(const std::string& json) {
  return total_parameters(model_from_hf_config(json, "config.json")).value;
}

TEST(HfConfig, LlamaFamily) {
  // meta-llama/Llama-2-7b-hf config.json (fields that matter).
  EXPECT_EQ(params(R"({"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
                       "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
                       "vocab_size": 32000, "tie_word_embeddings": false, "rms_norm_eps": 1e-05})"),
            6'738'415'616ULL);
  // meta-llama/Meta-Llama-3-8B.
  EXPECT_EQ(params(R"({"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
                       "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
                       "vocab_size": 128256})"),
            8'030'261'248ULL);
}

TEST(HfConfig, MixtralQwen2Gpt2Opt) {
  EXPECT_EQ(params(R"({"model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336,
                       "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
                       "vocab_size": 32000, "num_local_experts": 8, "num_experts_per_tok": 2})"),
            46'702'792'704ULL);
  EXPECT_EQ(params(R"({"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864,
                       "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
                       "vocab_size": 151936, "tie_word_embeddings": true})"),
            494'032'768ULL);
  EXPECT_EQ(params(R"({"model_type": "gpt2", "n_embd": 1280, "n_head": 20, "n_layer": 36, "n_positions": 1024,
                       "n_inner": null, "vocab_size": 50257})"),
            774'030'080ULL);
  EXPECT_EQ(params(R"({"model_type": "opt", "hidden_size": 2048, "ffn_dim": 8192, "num_attention_heads": 32,
                       "num_hidden_layers": 24, "vocab_size": 50272, "max_position_embeddings": 2048,
                       "word_embed_proj_dim": 2048, "do_layer_norm_before": true})"),
            1'315'758'080ULL);
  // Mistral-7B-v0.1: 7,241,732,096 parameters.
  EXPECT_EQ(params(R"({"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
                       "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
                       "vocab_size": 32000})"),
            7'241'732'096ULL);
}

TEST(HfConfig, ErrorsNameTheKey) {
  try {
    model_from_hf_config(R"({"model_type": "llama", "hidden_size": 4096})", "cfg.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("num_hidden_layers (in cfg.json) = (missing)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model_from_hf_config("[1, 2]", "cfg.json"), ConfigError);
  EXPECT_THROW(model_from_hf_config(R"({"model_type": "opt", "hidden_size": 1024, "ffn_dim": 4096,
      "num_attention_heads": 16, "num_hidden_layers": 24, "vocab_size": 50272, "max_position_embeddings": 2048,
      "word_embed_proj_dim": 512})",
                                    "opt-350m.json"),
               ConfigError);
}

}  // namespace
}  // namespace trainmem::tools
