#include "partition/model_presets.hpp"

#include <algorithm>
#include <vector>

namespace trainmem {
namespace {

ModelSpec gpt(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t heads, std::int64_t vocab,
              std::int64_t positions) {
  ModelSpec m;
  m.name = std::move(name);
  m.num_layers = layers;
  m.hidden_size = hidden;
  m.num_attention_heads = heads;
  m.ffn_hidden_size = 4 * hidden;
  m.vocab_size = vocab;
  m.max_position_embeddings = positions;
  return m;  // LayerNorm, GeLU, learned positions, tied embeddings, biases: the ModelSpec defaults
}

ModelSpec llama(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t ffn, std::int64_t heads,
                std::int64_t kv_heads, std::int64_t vocab) {
  ModelSpec m;
  m.name = std::move(name);
  m.num_layers = layers;
  m.hidden_size = hidden;
  m.ffn_hidden_size = ffn;
  m.num_attention_heads = heads;
  m.num_query_groups = kv_heads;
  m.vocab_size = vocab;
  m.normalization = Normalization::rms_norm;
  m.activation = Activation::swiglu;
  m.position_embedding = PositionEmbedding::rope;
  m.tie_embeddings = false;
  m.add_bias_linear = false;
  return m;
}

ModelSpec opt(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t heads) {
  // OPT's learned position table has max_position_embeddings + 2 rows (HF OPTLearnedPositionalEmbedding offset).
  ModelSpec m = gpt(std::move(name), layers, hidden, heads, 50272, 2048 + 2);
  m.activation = Activation::relu;
  return m;
}

// DeepSeek-V2/V3 (model_type deepseek_v2 / deepseek_v3): Llama layout with multi-head latent attention
// (kv_lora_rank 512, qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128 in all three), first_k_dense_replace
// dense layers, then MoE layers with n_shared_experts shared experts (one ungated MLP of n_shared * moe_ffn).
ModelSpec deepseek(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t ffn, std::int64_t heads,
                   std::int64_t vocab, std::int64_t q_lora, std::int64_t experts, std::int64_t topk,
                   std::int64_t moe_ffn, std::int64_t shared, std::int64_t dense_layers) {
  ModelSpec m = llama(std::move(name), layers, hidden, ffn, heads, 0, vocab);
  m.kv_channels = 128;
  m.kv_lora_rank = 512;
  m.q_lora_rank = q_lora;
  m.qk_rope_head_dim = 64;
  m.v_head_dim = 128;
  m.num_experts = experts;
  m.moe_router_topk = topk;
  m.moe_ffn_hidden_size = moe_ffn;
  m.shared_expert_ffn = shared * moe_ffn;
  m.first_dense_layers = dense_layers;
  return m;
}

ModelSpec with(ModelSpec m, void (*edit)(ModelSpec&)) {
  edit(m);
  return m;
}

// Qwen3: Llama layout with an explicit head_dim and RMSNorm weights on each query and key head (qk-norm).
ModelSpec qwen3(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t ffn, std::int64_t heads,
                std::int64_t kv_heads, bool tied) {
  ModelSpec m = llama(std::move(name), layers, hidden, ffn, heads, kv_heads, 151936);
  m.kv_channels = 128;
  m.qk_norm = true;
  m.tie_embeddings = tied;
  return m;
}

ModelSpec qwen3_moe(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t heads,
                    std::int64_t kv_heads, std::int64_t dense_ffn, std::int64_t expert_ffn) {
  // intermediate_size (dense_ffn) is unused when every layer is an MoE layer, as in these models.
  ModelSpec m = qwen3(std::move(name), layers, hidden, dense_ffn, heads, kv_heads, false);
  m.num_experts = 128;
  m.moe_router_topk = 8;
  m.moe_ffn_hidden_size = expert_ffn;
  return m;
}

// Qwen2-MoE: Qwen2 attention (q/k/v biases), every layer routed experts plus one gated shared expert.
ModelSpec qwen2_moe(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t dense_ffn,
                    std::int64_t heads, std::int64_t kv_heads, std::int64_t experts, std::int64_t topk,
                    std::int64_t expert_ffn, std::int64_t shared_ffn) {
  ModelSpec m = llama(std::move(name), layers, hidden, dense_ffn, heads, kv_heads, 151936);
  m.add_qkv_bias = true;
  m.num_experts = experts;
  m.moe_router_topk = topk;
  m.moe_ffn_hidden_size = expert_ffn;
  m.shared_expert_ffn = shared_ffn;
  m.shared_expert_gate = true;
  return m;
}

// Gemma: head_dim given, GeGLU, tied embeddings, vocab 256000 (Gemma 1/2) or 262144/262208 (Gemma 3).
// Gemma 2/3 (`sandwich`): 4 norms per layer and sliding-window layers, one global layer every `global_every`.
ModelSpec gemma(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t ffn, std::int64_t heads,
                std::int64_t kv_heads, std::int64_t head_dim, std::int64_t vocab) {
  ModelSpec m = llama(std::move(name), layers, hidden, ffn, heads, kv_heads, vocab);
  m.kv_channels = head_dim;
  m.activation = Activation::geglu;
  m.tie_embeddings = true;
  return m;
}
ModelSpec gemma2(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t ffn, std::int64_t heads,
                 std::int64_t kv_heads, std::int64_t head_dim) {
  ModelSpec m = gemma(std::move(name), layers, hidden, ffn, heads, kv_heads, head_dim, 256000);
  m.sandwich_norm = true;
  m.sliding_window = 4096;
  m.global_layer_every = 2;
  m.final_logit_softcapping = 30.0;
  m.attn_logit_softcapping = 50.0;
  return m;
}
ModelSpec gemma3(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t ffn, std::int64_t heads,
                 std::int64_t kv_heads, std::int64_t head_dim, std::int64_t vocab, std::int64_t window) {
  ModelSpec m = gemma(std::move(name), layers, hidden, ffn, heads, kv_heads, head_dim, vocab);
  m.sandwich_norm = true;
  m.qk_norm = true;
  m.sliding_window = window;
  m.global_layer_every = 6;
  return m;
}

// OLMo 2 (olmo2): Llama layout (MHA, vocab 100352, untied) with post-norm layers and q/k norms over the whole
// q and k widths.
ModelSpec olmo2(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t ffn, std::int64_t heads) {
  ModelSpec m = llama(std::move(name), layers, hidden, ffn, heads, heads, 100352);
  m.post_norm = true;
  m.qk_norm = true;
  m.qk_norm_full_width = true;
  return m;
}

// Falcon (falcon): LayerNorm, non-gated GeLU MLP of 4h, RoPE, no biases, attention and MLP in parallel. 7B:
// multi-query (one KV head), one input norm for both branches, tied; 40B/180B (new_decoder_architecture): grouped
// KV heads and two norms (ln_attn, ln_mlp) reading the layer input; 180B's lm_head is untied.
ModelSpec falcon(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t heads, std::int64_t kv_heads,
                 bool new_arch, bool tied) {
  ModelSpec m = gpt(std::move(name), layers, hidden, heads, 65024, 0);
  m.num_query_groups = kv_heads;
  m.position_embedding = PositionEmbedding::rope;
  m.add_bias_linear = false;
  m.parallel_residual = true;
  m.parallel_shared_norm = !new_arch;
  m.tie_embeddings = tied;
  return m;
}

// DBRX (dbrx): 16 experts, top-4, SwiGLU experts (w1, v1, w2), GQA with 8 KV heads, RoPE, LayerNorm without bias
// (nn.LayerNorm(bias=False)), no linear biases, untied lm_head, vocab 100352.
ModelSpec dbrx(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t ffn, std::int64_t heads) {
  ModelSpec m = llama(std::move(name), layers, hidden, ffn, heads, 8, 100352);
  m.normalization = Normalization::layer_norm;
  m.norm_bias = false;
  m.num_experts = 16;
  m.moe_router_topk = 4;
  return m;
}

// GPT-NeoX (Pythia): GPT layout (LayerNorm, GeLU, biases) with rotary positions, untied embed_out and the
// attention and MLP branches in parallel.
ModelSpec pythia(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t heads, std::int64_t vocab) {
  ModelSpec m = gpt(std::move(name), layers, hidden, heads, vocab, 0);
  m.position_embedding = PositionEmbedding::rope;
  m.tie_embeddings = false;
  m.parallel_residual = true;
  return m;
}

// StarCoder2 (starcoder2): GQA + RoPE with LayerNorm, biases everywhere and a non-gated GeLU MLP; every layer
// attends within a 4,096-token window; vocab 49,152.
ModelSpec starcoder2(std::string name, std::int64_t layers, std::int64_t hidden, std::int64_t heads,
                     std::int64_t kv_heads, bool tied) {
  ModelSpec m = gpt(std::move(name), layers, hidden, heads, 49152, 0);
  m.num_query_groups = kv_heads;
  m.position_embedding = PositionEmbedding::rope;
  m.tie_embeddings = tied;
  m.sliding_window = 4096;
  return m;
}

const std::vector<ModelPreset>& table() {
  static const std::vector<ModelPreset> presets = {
      {"gpt2", "HF gpt2 config.json (Radford et al. 2019)", 1024, gpt("gpt2", 12, 768, 12, 50257, 1024)},
      {"gpt2-large", "HF gpt2-large config.json", 1024, gpt("gpt2-large", 36, 1280, 20, 50257, 1024)},
      {"gpt3-175b", "Brown et al. 2020, Table 2.1 (96 layers, d_model 12288, 96 heads, context 2048)", 2048,
       gpt("gpt3-175b", 96, 12288, 96, 50257, 2048)},
      {"gpt-100b", "trainmem sizing reference: 80 layers, h 10240, 80 heads, ffn 40960, vocab 51200", 4096,
       gpt("gpt-100b", 80, 10240, 80, 51200, 0)},
      {"opt-1.3b", "HF facebook/opt-1.3b config.json (Zhang et al. 2022)", 2048, opt("opt-1.3b", 24, 2048, 32)},
      {"opt-13b", "HF facebook/opt-13b config.json (Zhang et al. 2022)", 2048, opt("opt-13b", 40, 5120, 40)},
      {"llama2-7b", "HF meta-llama/Llama-2-7b-hf config.json", 4096,
       llama("llama2-7b", 32, 4096, 11008, 32, 32, 32000)},
      {"llama2-13b", "HF meta-llama/Llama-2-13b-hf config.json", 4096,
       llama("llama2-13b", 40, 5120, 13824, 40, 40, 32000)},
      {"llama2-70b", "HF meta-llama/Llama-2-70b-hf config.json", 4096,
       llama("llama2-70b", 80, 8192, 28672, 64, 8, 32000)},
      {"llama3-8b", "HF meta-llama/Meta-Llama-3-8B config.json", 8192,
       llama("llama3-8b", 32, 4096, 14336, 32, 8, 128256)},
      {"llama3-70b", "HF meta-llama/Meta-Llama-3-70B config.json", 8192,
       llama("llama3-70b", 80, 8192, 28672, 64, 8, 128256)},
      {"llama3-405b", "HF meta-llama/Llama-3.1-405B config.json", 8192,
       llama("llama3-405b", 126, 16384, 53248, 128, 8, 128256)},
      {"mixtral-8x7b", "HF mistralai/Mixtral-8x7B-v0.1 config.json", 4096,
       with(llama("mixtral-8x7b", 32, 4096, 14336, 32, 8, 32000),
            [](ModelSpec& m) {
              m.num_experts = 8;
              m.moe_router_topk = 2;
            })},
      {"qwen2-0.5b", "HF Qwen/Qwen2-0.5B config.json", 4096,
       with(llama("qwen2-0.5b", 24, 896, 4864, 14, 2, 151936),
            [](ModelSpec& m) {
              m.tie_embeddings = true;
              m.add_qkv_bias = true;
            })},
      // Qwen3 (Qwen3 technical report: pre-training stage 1 at 4,096 tokens).
      {"qwen3-0.6b", "HF Qwen/Qwen3-0.6B config.json (tied embeddings)", 4096,
       qwen3("qwen3-0.6b", 28, 1024, 3072, 16, 8, true)},
      {"qwen3-8b", "HF Qwen/Qwen3-8B config.json", 4096, qwen3("qwen3-8b", 36, 4096, 12288, 32, 8, false)},
      {"qwen3-32b", "HF Qwen/Qwen3-32B config.json", 4096, qwen3("qwen3-32b", 64, 5120, 25600, 64, 8, false)},
      {"qwen3-30b-a3b", "HF Qwen/Qwen3-30B-A3B config.json (128 experts, top-8)", 4096,
       qwen3_moe("qwen3-30b-a3b", 48, 2048, 32, 4, 6144, 768)},
      {"qwen3-235b-a22b", "HF Qwen/Qwen3-235B-A22B config.json (128 experts, top-8)", 4096,
       qwen3_moe("qwen3-235b-a22b", 94, 4096, 64, 4, 12288, 1536)},
      {"qwen1.5-moe-a2.7b", "HF Qwen/Qwen1.5-MoE-A2.7B config.json (60 experts, top-4, shared expert 5632)", 4096,
       qwen2_moe("qwen1.5-moe-a2.7b", 24, 2048, 5632, 16, 16, 60, 4, 1408, 5632)},
      {"qwen2-57b-a14b", "HF Qwen/Qwen2-57B-A14B config.json (64 experts, top-8, shared expert 20480)", 4096,
       qwen2_moe("qwen2-57b-a14b", 28, 3584, 18944, 28, 4, 64, 8, 2560, 20480)},
      // DeepSeek (pre-trained at 4,096 tokens: DeepSeek-V2 and DeepSeek-V3 technical reports).
      {"deepseek-v2-lite", "HF deepseek-ai/DeepSeek-V2-Lite config.json (64 experts, top-6, 2 shared, no q LoRA)", 4096,
       deepseek("deepseek-v2-lite", 27, 2048, 10944, 16, 102400, 0, 64, 6, 1408, 2, 1)},
      {"deepseek-v2", "HF deepseek-ai/DeepSeek-V2 config.json (160 experts, top-6, 2 shared)", 4096,
       deepseek("deepseek-v2", 60, 5120, 12288, 128, 102400, 1536, 160, 6, 1536, 2, 1)},
      {"deepseek-v3", "HF deepseek-ai/DeepSeek-V3 config.json (256 experts, top-8, 1 shared; main model, MTP off)",
       4096,
       with(deepseek("deepseek-v3", 61, 7168, 18432, 128, 129280, 1536, 256, 8, 2048, 1, 3),
            [](ModelSpec& m) { m.moe_router_bias = true; })},
      // StarCoder2 (trained at 16,384 tokens: Lozhkov et al. 2024, StarCoder 2 and The Stack v2).
      {"starcoder2-3b", "HF bigcode/starcoder2-3b config.json (tied embeddings)", 16384,
       starcoder2("starcoder2-3b", 30, 3072, 24, 2, true)},
      {"starcoder2-7b", "HF bigcode/starcoder2-7b config.json (tied embeddings)", 16384,
       starcoder2("starcoder2-7b", 32, 4608, 36, 4, true)},
      {"starcoder2-15b", "HF bigcode/starcoder2-15b config.json", 16384,
       starcoder2("starcoder2-15b", 40, 6144, 48, 4, false)},
      // Gemma (context 8,192 for Gemma 1/2; Gemma 3 pre-trained at 32K, Gemma 3 technical report).
      {"gemma-7b", "HF google/gemma-7b config.json", 8192, gemma("gemma-7b", 28, 3072, 24576, 16, 16, 256, 256000)},
      {"gemma2-9b", "HF google/gemma-2-9b config.json", 8192, gemma2("gemma2-9b", 42, 3584, 14336, 16, 8, 256)},
      {"gemma2-27b", "HF google/gemma-2-27b config.json", 8192, gemma2("gemma2-27b", 46, 4608, 36864, 32, 16, 128)},
      {"gemma3-1b", "HF google/gemma-3-1b-pt config.json (gemma3_text)", 32768,
       gemma3("gemma3-1b", 26, 1152, 6912, 4, 1, 256, 262144, 512)},
      {"gemma3-27b", "HF google/gemma-3-27b-pt text_config (language model only, no vision tower)", 32768,
       gemma3("gemma3-27b", 62, 5376, 21504, 32, 16, 128, 262208, 1024)},
      // Phi-3 / Phi-4 (phi3): fused qkv_proj and gate_up_proj, the same weights as separate projections.
      {"phi3-mini", "HF microsoft/Phi-3-mini-4k-instruct config.json", 4096,
       llama("phi3-mini", 32, 3072, 8192, 32, 32, 32064)},
      {"phi4", "HF microsoft/phi-4 config.json (Phi-4 technical report: pre-trained at 4,096 tokens)", 4096,
       llama("phi4", 40, 5120, 17920, 40, 10, 100352)},
      // OLMo 2, pre-trained at 4,096 tokens (model card).
      {"olmo2-7b", "HF allenai/OLMo-2-1124-7B config.json (post-norm, full-width q/k norm)", 4096,
       olmo2("olmo2-7b", 32, 4096, 11008, 32)},
      {"olmo2-13b", "HF allenai/OLMo-2-1124-13B config.json (post-norm, full-width q/k norm)", 4096,
       olmo2("olmo2-13b", 40, 5120, 13824, 40)},
      // Falcon, trained at 2,048 tokens (model cards).
      {"falcon-7b", "HF tiiuae/falcon-7b config.json (multi-query, one norm per layer, tied)", 2048,
       falcon("falcon-7b", 32, 4544, 71, 1, false, true)},
      {"falcon-40b", "HF tiiuae/falcon-40b config.json (new_decoder_architecture, 8 KV heads, tied)", 2048,
       falcon("falcon-40b", 60, 8192, 128, 8, true, true)},
      {"falcon-180b", "HF tiiuae/falcon-180B config.json (new_decoder_architecture, 8 KV heads, untied)", 2048,
       falcon("falcon-180b", 80, 14848, 232, 8, true, false)},
      // DBRX, context 32,768 tokens (model card; config.json max_seq_len).
      {"dbrx-132b", "HF databricks/dbrx-base config.json (16 experts, top-4; dbrx-instruct has the same shape)", 32768,
       dbrx("dbrx-132b", 40, 6144, 10752, 48)},
      // Pythia (GPT-NeoX), trained at 2,048 tokens (Biderman et al. 2023).
      {"pythia-6.9b", "HF EleutherAI/pythia-6.9b config.json", 2048, pythia("pythia-6.9b", 32, 4096, 32, 50432)},
      {"pythia-12b", "HF EleutherAI/pythia-12b config.json", 2048, pythia("pythia-12b", 36, 5120, 40, 50688)},
  };
  return presets;
}
}  // namespace

std::span<const ModelPreset> model_presets() { return table(); }

const ModelPreset* find_model_preset(std::string_view name) {
  for (const auto& p : table())
    if (p.name == name) return &p;
  return nullptr;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::optional<std::string> closest_preset_name(std::string_view name) {
  const ModelPreset* best = nullptr;
  std::size_t best_d = 0;
  for (const auto& p : table()) {
    const std::size_t d = edit_distance(name, p.name);
    if (best == nullptr || d < best_d) {
      best = &p;
      best_d = d;
    }
  }
  if (best == nullptr || best_d > std::max<std::size_t>(3, name.size() / 2)) return std::nullopt;
  return std::string(best->name);
}

}  // namespace trainmem
