// Hugging Face config.json loading: each family's published configuration gives the published count.
#include "tools/inputs/hf_config.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"

namespace trainmem::tools {
namespace {

std::uint64_t params(const std::string& json) {
  return total_parameters(model_from_hf_config(json, "config.json")).value;
}

// The public config.json files under tests/tools/inputs/hf_configs/ (written out from the model repositories).
std::string fixture_path(const std::string& name) {
  return std::string(TRAINMEM_SOURCE_DIR) + "/tests/tools/inputs/hf_configs/" + name;
}
ModelSpec fixture(const std::string& name) { return load_hf_config(fixture_path(name)); }
std::uint64_t fixture_params(const std::string& name) { return total_parameters(fixture(name)).value; }

// The message of the ConfigError that parsing `json` throws ("" when it parses).
std::string error_of(const std::string& json) {
  try {
    model_from_hf_config(json, "cfg.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
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

// Each count below is derived by hand from the config (per layer: attention q h*a*d + k,v 2*h*kv*d + o a*d*h,
// MLP 3*h*f gated or 2*h*f+f+h with biases, norms; then embeddings, final norm and an untied head) and equals the
// published exact count: the safetensors metadata total of the Hugging Face repository (or the model card).
TEST(HfConfig, Qwen3QkNorm) {
  // Qwen/Qwen3-8B: h 4096, 36 layers, 32 q heads, 8 kv heads, head_dim 128, ffn 12288, vocab 151936, untied.
  // layer: q 4096*4096 + k,v 2*4096*1024 + o 4096*4096 = 41,943,040; q_norm+k_norm 2*128 = 256;
  //        MLP 3*4096*12288 = 150,994,944; 2 RMSNorms 8,192 -> 192,946,432; x36 = 6,946,071,552
  // embeddings 2*151936*4096 = 1,244,659,712; final norm 4,096 -> 8,190,735,360
  // Published: 8,190,735,360 (safetensors index total_size 16,381,470,720 bytes in bf16 = 2 x that).
  const ModelSpec m = fixture("qwen3-8b.json");
  EXPECT_TRUE(m.qk_norm);
  EXPECT_EQ(m.head_dim(), 128);
  EXPECT_EQ(total_parameters(m).value, 8'190'735'360ULL);
  // Qwen/Qwen3-0.6B: head_dim 128 with h 1024 and 16 heads (16*128 = 2048 != h), tied embeddings.
  // layer: q 1024*2048 + k,v 2*1024*1024 + o 2048*1024 = 6,291,456; qk-norm 256; MLP 3*1024*3072 = 9,437,184;
  //        norms 2,048 -> 15,730,944; x28 = 440,466,432 ("0.44B non-embedding" on the card)
  // embeddings 151936*1024 = 155,582,464 (tied: counted once); final norm 1,024 -> 596,049,920
  // Published: 596,049,920 (the card's 0.6B; the checkpoint stores the tied head once more as lm_head.weight).
  EXPECT_EQ(fixture_params("qwen3-0.6b.json"), 596'049'920ULL);
}

TEST(HfConfig, Qwen3MoeEveryLayerMoe) {
  // Qwen/Qwen3-30B-A3B: h 2048, 48 layers, 32 q / 4 kv heads of 128, 128 experts of width 768, top-8.
  // layer: attention 2048*4096 + 2*2048*512 + 4096*2048 = 18,874,368; qk-norm 256; router 2048*128 = 262,144;
  //        experts 128*3*2048*768 = 603,979,776; norms 4,096 -> 623,120,640; x48 = 29,909,790,720
  // embeddings 2*151936*2048 = 622,329,856; final norm 2,048 -> 30,532,122,624. Published: 30,532,122,624.
  const ModelSpec m = fixture("qwen3-30b-a3b.json");
  EXPECT_EQ(m.num_experts, 128);
  EXPECT_EQ(m.moe_router_topk, 8);
  EXPECT_EQ(m.expert_ffn(), 768);
  EXPECT_EQ(total_parameters(m).value, 30'532'122'624ULL);
  // Dense layers among the MoE layers are refused, naming the key.
  const std::string base = R"({"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144,
      "num_attention_heads": 32, "num_hidden_layers": 48, "num_key_value_heads": 4, "head_dim": 128,
      "vocab_size": 151936, "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768)";
  EXPECT_NE(error_of(base + R"(, "mlp_only_layers": [0, 47]})").find("mlp_only_layers (in cfg.json) = [0,47]"),
            std::string::npos);
  EXPECT_NE(error_of(base + R"(, "decoder_sparse_step": 2})").find("decoder_sparse_step (in cfg.json) = 2"),
            std::string::npos);
  EXPECT_EQ(error_of(base + R"(, "decoder_sparse_step": 1, "mlp_only_layers": []})"), "");
}

TEST(HfConfig, Qwen2MoeSharedExperts) {
  // Qwen/Qwen1.5-MoE-A2.7B (qwen2_moe): h 2048, 24 layers, 16 heads (MHA), 60 experts of 1408, top-4, one shared
  // expert of 5632 with a sigmoid gate, q/k/v biases. layer: attention 4*2048^2 = 16,777,216; q/k/v biases 3*2048 =
  // 6,144; router 2048*60 = 122,880; experts 60*3*2048*1408 = 519,045,120; shared 3*2048*5632 = 34,603,008;
  // shared gate 2,048; norms 4,096 -> 570,560,512; x24 = 13,693,452,288; embeddings 2*151936*2048 = 622,329,856;
  // final 2,048 -> 14,315,784,192. Published: 14,315,784,192.
  const ModelSpec m = fixture("qwen1.5-moe-a2.7b.json");
  EXPECT_EQ(m.shared_expert_ffn, 5632);
  EXPECT_TRUE(m.shared_expert_gate);
  EXPECT_TRUE(m.add_qkv_bias);
  EXPECT_EQ(total_parameters(m).value, 14'315'784'192ULL);
  // Qwen/Qwen2-57B-A14B: derived in tests/partition/model_spec_test.cpp; published 57,408,658,944.
  EXPECT_EQ(fixture_params("qwen2-57b-a14b.json"), 57'408'658'944ULL);
  EXPECT_NE(error_of(R"({"model_type": "qwen2_moe", "hidden_size": 2048, "intermediate_size": 5632,
      "num_attention_heads": 16, "num_hidden_layers": 24, "vocab_size": 151936, "num_experts": 60,
      "num_experts_per_tok": 4, "moe_intermediate_size": 1408})")
                .find("shared_expert_intermediate_size (in cfg.json) = (missing)"),
            std::string::npos);
}

TEST(HfConfig, DeepSeekMultiLatentAttention) {
  // deepseek-ai/DeepSeek-V2-Lite: q_lora_rank null (one q_proj), first_k_dense_replace 1, 2 shared experts of 1408,
  // topk_method greedy (no router bias). Count derived in tests/partition/deepseek_test.cpp: 15,706,484,224.
  const ModelSpec lite = fixture("deepseek-v2-lite.json");
  EXPECT_EQ(lite.q_lora_rank, 0);
  EXPECT_EQ(lite.kv_lora_rank, 512);
  EXPECT_EQ(lite.kv_channels, 128);  // qk_nope_head_dim
  EXPECT_EQ(lite.num_query_groups, 0);
  EXPECT_EQ(lite.first_dense_layers, 1);
  EXPECT_EQ(lite.shared_expert_ffn, 2 * 1408);
  EXPECT_FALSE(lite.shared_expert_gate);
  EXPECT_FALSE(lite.moe_router_bias);
  EXPECT_EQ(total_parameters(lite).value, 15'706'484'224ULL);
  // deepseek-ai/DeepSeek-V3: noaux_tc router bias; num_nextn_predict_layers 1 is not read (transformers builds no
  // MTP module), so the count is the 671B main model (derived in tests/partition/deepseek_test.cpp).
  const ModelSpec v3 = fixture("deepseek-v3.json");
  EXPECT_TRUE(v3.moe_router_bias);
  EXPECT_EQ(v3.mtp_layers, 0);
  EXPECT_EQ(total_parameters(v3).value, 671'026'419'200ULL);
}

TEST(HfConfig, DeepSeekRefusals) {
  const std::string base = R"({"model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944,
      "num_attention_heads": 16, "num_hidden_layers": 27, "vocab_size": 102400, "kv_lora_rank": 512,
      "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 64,
      "num_experts_per_tok": 6, "moe_intermediate_size": 1408)";
  // first_k_dense_replace is given once: the 28 case below replaces it (a key twice is an error of its own).
  EXPECT_EQ(error_of(base + R"(, "first_k_dense_replace": 1})"), "");
  EXPECT_NE(error_of(base + R"(, "moe_layer_freq": 2})").find("moe_layer_freq (in cfg.json) = 2"), std::string::npos);
  EXPECT_NE(error_of(base + R"(, "num_key_value_heads": 4})").find("num_key_value_heads (in cfg.json) = 4"),
            std::string::npos);
  EXPECT_NE(error_of(base + R"(, "topk_method": "random"})").find("topk_method (in cfg.json)"), std::string::npos);
  EXPECT_NE(error_of(base + R"(, "attention_bias": true})").find("attention_bias"), std::string::npos);
  EXPECT_NE(error_of(base + R"(, "first_k_dense_replace": 28})").find("first_k_dense_replace (in cfg.json) = 28"),
            std::string::npos);
}

TEST(HfConfig, Starcoder2BiasesLayerNormGeluMlp) {
  // bigcode/starcoder2-3b: h 3072, 30 layers, 24 heads of 128, 2 KV heads, non-gated GeLU MLP 12288, LayerNorm,
  // biases everywhere (use_bias), tied, vocab 49152. Layer: q 3072*3072 + 3072, k and v 2*(3072*256 + 256), o
  // 3072*3072 + 3072 = 20,453,888; MLP 3072*12288 + 12288 + 12288*3072 + 3072 = 75,512,832; 2 LayerNorms 4*3072 =
  // 12,288 -> 95,979,008; x30 = 2,879,370,240; embedding 49152*3072 = 150,994,944; final LayerNorm 6,144 ->
  // 3,030,371,328 ("3.03B", the model card).
  const ModelSpec m = fixture("starcoder2-3b.json");
  EXPECT_EQ(m.normalization, Normalization::layer_norm);
  EXPECT_EQ(m.activation, Activation::gelu);
  EXPECT_TRUE(m.add_bias_linear);
  EXPECT_TRUE(m.tie_embeddings);
  EXPECT_EQ(m.sliding_window, 4096);
  EXPECT_EQ(total_parameters(m).value, 3'030'371'328ULL);
  // starcoder2-15b: h 6144, 40 layers, 48 heads, 4 KV heads, ffn 24576, untied. Layer: q and o 2*(6144^2 + 6144)
  // = 75,509,760; k, v 2*(6144*512 + 512) = 6,292,480; MLP 2*6144*24576 + 24576 + 6144 = 302,020,608; norms 24,576
  // -> 383,847,424; x40 = 15,353,896,960; embedding and head 2*49152*6144 = 603,979,776; final 12,288 ->
  // 15,957,889,024 ("15.96B").
  EXPECT_EQ(params(R"({"model_type": "starcoder2", "hidden_size": 6144, "intermediate_size": 24576,
      "num_attention_heads": 48, "num_key_value_heads": 4, "num_hidden_layers": 40, "vocab_size": 49152,
      "tie_word_embeddings": false, "use_bias": true, "sliding_window": 4096})"),
            15'957'889'024ULL);
  EXPECT_NE(error_of(R"({"model_type": "starcoder2", "hidden_size": 64, "intermediate_size": 256,
      "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100, "hidden_act": "silu"})")
                .find("hidden_act (in cfg.json)"),
            std::string::npos);
}

TEST(HfConfig, Olmo2PostNormFullWidthQkNorm) {
  // allenai/OLMo-2-1124-13B config.json: h 5120, 40 layers, 40 heads (MHA) of 128, SwiGLU 13824, untied, vocab
  // 100352, no biases. Layer: q, k, v, o 4*5120^2 = 104,857,600; MLP 3*5120*13824 = 212,336,640; post-attention
  // and post-feedforward RMSNorms 2*5120 = 10,240; q_norm over 40*128 and k_norm over 40*128 = 10,240 ->
  // 317,214,720; x40 = 12,688,588,800; embed_tokens + lm_head 2*100352*5120 = 1,027,604,480; final norm 5,120 ->
  // 13,716,198,400 = the repository's model.safetensors.index.json total_size 54,864,793,600 B / 4 (float32).
  const ModelSpec m = fixture("olmo-2-1124-13b.json");
  EXPECT_TRUE(m.post_norm);
  EXPECT_TRUE(m.qk_norm);
  EXPECT_TRUE(m.qk_norm_full_width);
  EXPECT_FALSE(m.tie_embeddings);
  EXPECT_EQ(total_parameters(m).value, 13'716'198'400ULL);
  // allenai/OLMo-2-1124-7B (h 4096, 32 layers, 32 heads, ffn 11008). Layer: 4*4096^2 = 67,108,864; MLP
  // 3*4096*11008 = 135,266,304; norms 8,192; q/k norms 2*4096 = 8,192 -> 202,391,552; x32 = 6,476,529,664;
  // 2*100352*4096 = 822,083,584; final 4,096 -> 7,298,617,344 (the Hub's safetensors total, F32 7,298,617,344).
  EXPECT_EQ(params(R"({"model_type": "olmo2", "hidden_size": 4096, "intermediate_size": 11008,
      "num_attention_heads": 32, "num_key_value_heads": 32, "num_hidden_layers": 32, "vocab_size": 100352,
      "tie_word_embeddings": false, "attention_bias": false, "hidden_act": "silu"})"),
            7'298'617'344ULL);
  // A grouped-KV variant: k_norm spans kv_heads*head_dim only. h 64, 4 heads of 16, 2 KV heads, ffn 128, vocab 100,
  // 1 layer: q, o 2*64*64 = 8,192; k, v 2*64*32 = 4,096; MLP 3*64*128 = 24,576; norms 128; q/k norms 64 + 32 = 96
  // -> 37,088; embeddings 2*100*64 = 12,800 (absent tie_word_embeddings: untied); final 64 -> 49,952.
  EXPECT_EQ(params(R"({"model_type": "olmo2", "hidden_size": 64, "intermediate_size": 128,
      "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 100})"),
            49'952ULL);
  const std::string small = R"({"model_type": "olmo2", "hidden_size": 64, "intermediate_size": 128,
      "num_attention_heads": 4, "num_hidden_layers": 1, "vocab_size": 100)";
  EXPECT_NE(error_of(small + R"(, "attention_bias": true})").find("attention_bias (in cfg.json) = true"),
            std::string::npos);
  EXPECT_NE(error_of(small + R"(, "hidden_act": "gelu"})").find("hidden_act (in cfg.json) = \"gelu\""),
            std::string::npos);
}

TEST(HfConfig, FalconMultiQueryAndNewDecoderArchitecture) {
  // tiiuae/falcon-7b config.json (its layout keys): multi_query, parallel_attn, bias false, tied (no
  // tie_word_embeddings key). Count derived in tests/partition/model_spec_test.cpp: 6,921,720,704.
  const ModelSpec m7 = model_from_hf_config(R"({"model_type": "falcon", "alibi": false,
      "apply_residual_connection_post_layernorm": false, "bias": false, "hidden_size": 4544,
      "multi_query": true, "new_decoder_architecture": false, "num_attention_heads": 71, "num_hidden_layers": 32,
      "parallel_attn": true, "vocab_size": 65024})",
                                            "falcon-7b.json");
  EXPECT_EQ(m7.query_groups(), 1);
  EXPECT_TRUE(m7.parallel_residual);
  EXPECT_TRUE(m7.parallel_shared_norm);
  EXPECT_TRUE(m7.tie_embeddings);
  EXPECT_EQ(total_parameters(m7).value, 6'921'720'704ULL);
  // tiiuae/falcon-40b: new_decoder_architecture, 8 KV heads, ln_attn + ln_mlp: 41,303,293,952 (same derivation).
  EXPECT_EQ(params(R"({"model_type": "falcon", "bias": false, "hidden_size": 8192, "new_decoder_architecture": true,
      "num_attention_heads": 128, "num_hidden_layers": 60, "num_kv_heads": 8, "parallel_attn": true,
      "vocab_size": 65024})"),
            41'303'293'952ULL);
  // Sequential (parallel_attn false), MHA, biases: h 64, 4 heads, 1 layer, vocab 100, tied: qkv 64*192 + 192,
  // dense 64*64 + 64, MLP 2*64*256 + 256 + 64, 2 LayerNorms 256 -> 49,984; embeddings 6,400; ln_f 128 -> 56,512.
  EXPECT_EQ(params(R"({"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1,
      "vocab_size": 100, "multi_query": false, "parallel_attn": false, "bias": true})"),
            56'512ULL);
  const std::string small =
      R"({"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1, "vocab_size": 100)";
  EXPECT_NE(error_of(small + R"(, "alibi": true})").find("alibi (in cfg.json) = true"), std::string::npos);
  EXPECT_NE(error_of(small + R"(, "activation": "relu"})").find("activation (in cfg.json) = \"relu\""),
            std::string::npos);
  EXPECT_NE(error_of(small + R"(, "multi_query": false, "num_kv_heads": 2})").find("num_kv_heads (in cfg.json) = 2"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "RefinedWebModel", "n_layer": 32})").find("model_type (in cfg.json)"),
            std::string::npos);
}

TEST(HfConfig, GemmaFamilies) {
  // google/gemma-7b: h 3072, 28 layers, 16 heads (MHA) of head_dim 256 (16*256 = 4096 != h), ffn 24576, GeGLU,
  // tied vocab 256000. layer: attention 4*3072*4096 = 50,331,648; MLP 3*3072*24576 = 226,492,416; norms 6,144
  // -> 276,830,208; x28 = 7,751,245,824; embeddings 256000*3072 = 786,432,000; final 3,072 -> 8,537,680,896.
  // Published: 8,537,680,896.
  const ModelSpec g1 = fixture("gemma-7b.json");
  EXPECT_EQ(g1.activation, Activation::geglu);
  EXPECT_TRUE(g1.tie_embeddings);
  EXPECT_EQ(total_parameters(g1).value, 8'537'680'896ULL);
  // google/gemma-2-9b: h 3584, 42 layers, 16 q / 8 kv heads of 256, ffn 14336, 4 norms per layer.
  // layer: q 3584*4096 + k,v 2*3584*2048 + o 4096*3584 = 44,040,192; MLP 3*3584*14336 = 154,140,672;
  //        4 norms 14,336 -> 198,195,200; x42 = 8,324,198,400; embeddings 256000*3584 = 917,504,000; final 3,584
  // -> 9,241,705,984. Published: 9,241,705,984.
  const ModelSpec g2 = fixture("gemma-2-9b.json");
  EXPECT_TRUE(g2.sandwich_norm);
  EXPECT_FALSE(g2.qk_norm);
  EXPECT_EQ(g2.sliding_window, 4096);
  EXPECT_TRUE(g2.local_attention_layer(0));  // Gemma2DecoderLayer: is_sliding = not bool(layer_idx % 2)
  EXPECT_FALSE(g2.local_attention_layer(1));
  EXPECT_EQ(g2.final_logit_softcapping, 30.0);
  EXPECT_EQ(g2.attn_logit_softcapping, 50.0);
  EXPECT_EQ(total_parameters(g2).value, 9'241'705'984ULL);
  // google/gemma-3-1b-pt (gemma3_text): h 1152, 26 layers, 4 q / 1 kv head of 256, ffn 6912, vocab 262144.
  // layer: q 1152*1024 + k,v 2*1152*256 + o 1024*1152 = 2,949,120; q/k norms 2*256 = 512; MLP 3*1152*6912 =
  //        23,887,872; 4 norms 4,608 -> 26,842,112; x26 = 697,894,912; embeddings 262144*1152 = 301,989,888;
  //        final 1,152 -> 999,885,952. Published: 999,885,952.
  const ModelSpec g3 = fixture("gemma-3-1b-pt.json");
  EXPECT_TRUE(g3.qk_norm);
  EXPECT_EQ(g3.global_layer_every, 6);
  EXPECT_FALSE(g3.local_attention_layer(5));  // (5 + 1) % 6 == 0: global
  EXPECT_TRUE(g3.local_attention_layer(6));
  EXPECT_EQ(total_parameters(g3).value, 999'885'952ULL);
  // google/gemma-3-27b-pt's text_config as a gemma3_text config.json (vocab_size 262208, Gemma3TextConfig's value):
  // layer: q 5376*4096 + k,v 2*5376*2048 + o 4096*5376 = 66,060,288; q/k norms 256; MLP 3*5376*21504 =
  //        346,816,512; 4 norms 21,504 -> 412,898,560; x62 = 25,599,710,720; embeddings 262208*5376 =
  //        1,409,630,208; final 5,376 -> 27,009,346,304 = the language-model tensors of the checkpoint (its
  //        27,432,406,640 total adds the SigLIP vision tower and the projector, not modelled).
  EXPECT_EQ(fixture_params("gemma-3-27b-text.json"), 27'009'346'304ULL);
}

TEST(HfConfig, GemmaRefusals) {
  // The multimodal config (model_type gemma3) is refused with the way out, not counted without its vision tower.
  try {
    fixture("gemma-3-27b-pt.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model_type (in "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("= gemma3: an image-text model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("text_config"), std::string::npos) << e.what();
  }
  const std::string g2 = R"({"model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336,
      "num_attention_heads": 16, "num_hidden_layers": 4, "num_key_value_heads": 8, "head_dim": 256,
      "vocab_size": 256000, "sliding_window": 4096)";
  EXPECT_EQ(error_of(g2 + "}"), "");
  // A per-layer list that is not one global layer every 2 names the layer.
  EXPECT_NE(error_of(g2 + R"(, "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention",
      "full_attention"]})")
                .find("layer_types (in cfg.json) = \"sliding_attention\" at layer 1"),
            std::string::npos);
  EXPECT_EQ(error_of(g2 + R"(, "layer_types": ["sliding_attention", "full_attention", "sliding_attention",
      "full_attention"]})"),
            "");
  EXPECT_NE(error_of(g2 + R"(, "hidden_activation": "relu"})").find("hidden_activation (in cfg.json) = \"relu\""),
            std::string::npos);
  // gemma3_text without vocab_size: an error naming it, no silent default.
  EXPECT_NE(error_of(R"({"model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912,
      "num_attention_heads": 4, "num_hidden_layers": 26, "num_key_value_heads": 1, "head_dim": 256,
      "sliding_window": 512})")
                .find("vocab_size (in cfg.json) = (missing)"),
            std::string::npos);
}

TEST(HfConfig, Phi3FusedProjections) {
  // phi3's qkv_proj [(a+2kv)*d, h] and gate_up_proj [2f, h] hold the weights of Llama's q/k/v and gate/up
  // projections: the same count. microsoft/Phi-3-mini-4k-instruct: h 3072, 32 layers, 32 heads (MHA), ffn 8192,
  // vocab 32064, untied. layer: 4*3072^2 = 37,748,736; MLP 3*3072*8192 = 75,497,472; norms 6,144 -> 113,252,352;
  // x32 = 3,624,075,264; embeddings + head 2*32064*3072 = 197,001,216; final 3,072 -> 3,821,079,552.
  // Published: 3,821,079,552.
  EXPECT_EQ(fixture_params("phi-3-mini-4k-instruct.json"), 3'821'079'552ULL);
  // microsoft/phi-4: h 5120, 40 layers, 40 q / 10 kv heads of 128, ffn 17920, vocab 100352, untied.
  // layer: 2*5120^2 + 2*5120*1280 = 65,536,000; MLP 3*5120*17920 = 275,251,200; norms 10,240 -> 340,797,440;
  // x40 = 13,631,897,600; 2*100352*5120 = 1,027,604,480; final 5,120 -> 14,659,507,200. Published: 14,659,507,200.
  EXPECT_EQ(fixture_params("phi-4.json"), 14'659'507'200ULL);
}

TEST(HfConfig, GptNeoxParallelResidual) {
  // EleutherAI/pythia-6.9b: h 4096, 32 layers, 32 heads, ffn 16384 = 4h, LayerNorm, biases, untied embed_out.
  // layer (GPT layout): 12h^2 + 13h = 201,326,592 + 53,248 = 201,379,840; x32 = 6,444,154,880;
  // embed_in + embed_out 2*50432*4096 = 413,138,944; final LayerNorm 2h = 8,192 -> 6,857,302,016.
  // Published (Pythia model card table): 6,857,302,016.
  const ModelSpec m = fixture("pythia-6.9b.json");
  EXPECT_TRUE(m.parallel_residual);
  EXPECT_FALSE(m.tie_embeddings);
  EXPECT_EQ(m.position_embedding, PositionEmbedding::rope);  // rotary_pct 0.25: no position table
  EXPECT_EQ(total_parameters(m).value, 6'857'302'016ULL);
  // pythia-12b: h 5120, 36 layers, vocab 50688: 36*(12h^2+13h) = 11,327,016,960; 2*50688*5120 = 519,045,120;
  // final 10,240 -> 11,846,072,320. Published (Pythia model card table): 11,846,072,320.
  EXPECT_EQ(fixture_params("pythia-12b.json"), 11'846'072'320ULL);
  const std::string neox = R"({"model_type": "gpt_neox", "hidden_size": 512, "intermediate_size": 2048,
      "num_attention_heads": 8, "num_hidden_layers": 6, "vocab_size": 50304)";
  EXPECT_NE(error_of(neox + R"(, "attention_bias": false})").find("attention_bias (in cfg.json) = false"),
            std::string::npos);
  EXPECT_NE(error_of(neox + R"(, "rotary_pct": 1.5})").find("rotary_pct (in cfg.json) = 1.5"), std::string::npos);
}

TEST(HfConfig, LlamaLayoutAliases) {
  // granite: Llama modules plus scalar multipliers. ibm-granite/granite-3.1-8b-base: h 4096, 40 layers, 32 q / 8 kv,
  // ffn 12800, vocab 49155, tied. layer: 2*4096^2 + 2*4096*1024 = 41,943,040; MLP 3*4096*12800 = 157,286,400;
  // norms 8,192 -> 199,237,632; x40 = 7,969,505,280; embeddings 49155*4096 = 201,338,880; final 4,096
  // -> 8,170,848,256. Published: 8,170,848,256.
  EXPECT_EQ(fixture_params("granite-3.1-8b-base.json"), 8'170'848'256ULL);
  // smollm3 (NoPE on every 4th layer: no parameters). HuggingFaceTB/SmolLM3-3B: h 2048, 36 layers, 16 q / 4 kv,
  // ffn 11008, vocab 128256, tied. layer: 2*2048^2 + 2*2048*512 = 10,485,760; MLP 3*2048*11008 = 67,633,152;
  // norms 4,096 -> 78,123,008; x36 = 2,812,428,288; embeddings 128256*2048 = 262,668,288; final 2,048
  // -> 3,075,098,624. Published: 3,075,098,624.
  EXPECT_EQ(fixture_params("smollm3-3b.json"), 3'075'098'624ULL);
}

TEST(HfConfig, DbrxNestedConfigs) {
  // databricks/dbrx-base config.json: d_model 6144, 48 heads, 40 layers, attn_config.kv_n_heads 8, ffn_config 16
  // experts of 10752 (top 4), vocab 100352, untied; 131,596,523,520 parameters (the published 132B, derived by hand
  // in tests/partition/model_spec_test.cpp DbrxLayerNormWithoutBias).
  const ModelSpec m = fixture("dbrx-base.json");
  EXPECT_EQ(m.num_query_groups, 8);
  EXPECT_EQ(m.num_experts, 16);
  EXPECT_EQ(m.moe_router_topk, 4);
  EXPECT_EQ(m.normalization, Normalization::layer_norm);
  EXPECT_FALSE(m.norm_bias);
  EXPECT_FALSE(m.tie_embeddings);
  EXPECT_EQ(total_parameters(m).value, 131'596'523'520ULL);
  // Two layers, d 64, 4 heads of 16, 2 KV heads, 4 experts of 32, vocab 100: per layer Wqkv 64*(64+2*2*16) = 8192,
  // out_proj 4096, norms 128, router 256, experts 3*4*32*64 = 24,576 -> 37,248; x2 = 74,496; wte + lm_head
  // 2*100*64 = 12,800; norm_f 64 -> 87,360.
  const std::string small = R"({"model_type": "dbrx", "d_model": 64, "n_heads": 4, "n_layers": 2, "vocab_size": 100,
      "attn_config": {"kv_n_heads": 2, "clip_qkv": 8}, "ffn_config": {"ffn_hidden_size": 32, "moe_num_experts": 4,
      "moe_top_k": 2, "ffn_act_fn": {"name": "silu"}})";
  EXPECT_EQ(params(small + "}"), 87'360ULL);
  EXPECT_NE(error_of(small + R"(, "tie_word_embeddings": true})").find("tie_word_embeddings (in cfg.json) = true"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "dbrx", "d_model": 64, "n_heads": 4, "n_layers": 2, "vocab_size": 100,
      "ffn_config": {}})")
                .find("attn_config (in cfg.json) = (missing)"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "dbrx", "d_model": 64, "n_heads": 4, "n_layers": 2, "vocab_size": 100,
      "attn_config": {"kv_n_heads": 2}, "ffn_config": {"ffn_hidden_size": 32, "moe_num_experts": 4}})")
                .find("ffn_config.moe_top_k (in cfg.json) = (missing)"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "dbrx", "d_model": 64, "n_heads": 4, "n_layers": 2, "vocab_size": 100,
      "attn_config": {"kv_n_heads": 3}, "ffn_config": {"ffn_hidden_size": 32, "moe_num_experts": 4, "moe_top_k": 2}})")
                .find("attn_config.kv_n_heads (in cfg.json) = 3"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "dbrx", "d_model": 64, "n_heads": 4, "n_layers": 2, "vocab_size": 100,
      "attn_config": {"kv_n_heads": 2}, "ffn_config": {"ffn_hidden_size": 32, "moe_num_experts": 4, "moe_top_k": 2,
      "ffn_act_fn": {"name": "gelu"}}})")
                .find("ffn_config.ffn_act_fn (in cfg.json)"),
            std::string::npos);
}

TEST(HfConfig, LayoutKeysThatAreNotModelledAreRefused) {
  const std::string llama = R"({"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
      "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 32000)";
  // attention_bias puts a bias on o_proj too (h per layer): refused, not counted short.
  EXPECT_NE(error_of(llama + R"(, "attention_bias": true})").find("attention_bias (in cfg.json) = true"),
            std::string::npos);
  EXPECT_NE(error_of(llama + R"(, "mlp_bias": true})").find("mlp_bias (in cfg.json) = true"), std::string::npos);
  EXPECT_NE(error_of(llama + R"(, "hidden_act": "gelu"})").find("hidden_act (in cfg.json) = \"gelu\""),
            std::string::npos);
  EXPECT_EQ(error_of(llama + R"(, "attention_bias": false, "mlp_bias": false, "hidden_act": "silu"})"), "");
  EXPECT_NE(error_of(R"({"model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072,
      "num_attention_heads": 16, "num_hidden_layers": 28, "vocab_size": 151936, "use_sliding_window": true})")
                .find("use_sliding_window (in cfg.json) = true"),
            std::string::npos);
  const std::string unknown = error_of(R"({"model_type": "bloom", "n_embed": 4096})");
  EXPECT_NE(unknown.find("model_type (in cfg.json) = bloom: unsupported; one of llama"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("gpt_neox"), std::string::npos) << unknown;
}

// Issue 15: a null is the key's absence only where transformers documents None as "unset"; elsewhere it names the
// key. A key twice in one object is an error (json.load keeps the last silently); the same key in two objects is not.
TEST(HfConfig, NullsAndDuplicateKeys) {
  const std::string llama = R"({"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
      "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 32000)";
  // Llama-2-7b (6,738,415,616, LlamaFamily) with nulls as Hub configs write them: kv heads = heads, head_dim = h/a.
  EXPECT_EQ(params(llama + R"(, "num_key_value_heads": null, "head_dim": null, "rope_scaling": null,
      "sliding_window": null, "quantization_config": null, "attention_dropout": null})"),
            6'738'415'616ULL);
  EXPECT_NE(error_of(llama + R"(, "tie_word_embeddings": null})").find("tie_word_embeddings (in cfg.json) = null"),
            std::string::npos);
  EXPECT_NE(error_of(llama + R"(, "attention_bias": null})").find("attention_bias (in cfg.json) = null"),
            std::string::npos);
  EXPECT_NE(error_of(llama + R"(, "hidden_act": null})").find("hidden_act (in cfg.json) = null"), std::string::npos);
  const std::string required = error_of(R"({"model_type": "llama", "hidden_size": 4096, "intermediate_size": null,
      "num_attention_heads": 32, "num_hidden_layers": 32, "vocab_size": 32000})");
  EXPECT_NE(required.find("intermediate_size (in cfg.json) = null: required by this model_type"), std::string::npos)
      << required;
  // Gemma requires head_dim (Gemma-7B: 16 heads of 256 at h 3072, not h/a = 192): its null is an error.
  EXPECT_NE(error_of(R"({"model_type": "gemma", "hidden_size": 3072, "intermediate_size": 24576,
      "num_attention_heads": 16, "num_hidden_layers": 28, "head_dim": null, "vocab_size": 256000})")
                .find("head_dim (in cfg.json) = null: required"),
            std::string::npos);
  // GPT-2's n_inner null is 4h (MixtralQwen2Gpt2Opt); OPT's word_embed_proj_dim null is hidden_size: opt-1.3b's
  // 1,315,758,080 (the same config with the key given, MixtralQwen2Gpt2Opt).
  EXPECT_EQ(params(R"({"model_type": "opt", "hidden_size": 2048, "ffn_dim": 8192, "num_attention_heads": 32,
                       "num_hidden_layers": 24, "vocab_size": 50272, "max_position_embeddings": 2048,
                       "word_embed_proj_dim": null, "do_layer_norm_before": true})"),
            1'315'758'080ULL);
  EXPECT_NE(error_of(llama + R"(, "num_hidden_layers": 2})")
                .find("num_hidden_layers (in cfg.json) = (duplicate key): appears more than once"),
            std::string::npos);
  EXPECT_NE(error_of(llama + R"(, "rope_scaling": {"factor": 2.0, "factor": 4.0}})")
                .find("rope_scaling.factor (in cfg.json) = (duplicate key)"),
            std::string::npos);
  EXPECT_EQ(error_of(llama + R"(, "rope_scaling": {"type": "linear", "factor": 2.0}, "text_config": {"type": 1,
      "factor": [{"type": 2}, {"type": 3}]}})"),
            "");
}

}  // namespace
}  // namespace trainmem::tools
