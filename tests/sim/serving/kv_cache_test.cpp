#include "sim/serving/kv_cache.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"

namespace trainmem::sim {
namespace {

const ModelSpec& preset(const char* name) { return find_model_preset(name)->spec; }

TEST(KvCache, Opt13bIs800KiBPerToken) {
  // vLLM paper (Kwon et al. 2023, Sec. 2): "2 (key and value vectors) x 5120 (hidden state size) x 40
  // (number of layers) x 2 (bytes per FP16) = 800 KB" = 819,200 bytes per token.
  KvCacheConfig c;
  c.context_tokens = 1;
  c.dtype = Dtype::fp16;
  EXPECT_EQ(kv_cache(preset("opt-13b"), c).bytes_per_token.value, 819'200u);
}

TEST(KvCache, Llama2_70bGqaIsEightTimesSmaller) {
  // 8 KV heads instead of 64: 2 * 80 layers * 8 * 128 * 2 bytes = 327,680 bytes per token; with MHA
  // (num_query_groups = 64) it would be 2,621,440, exactly 8x more.
  KvCacheConfig c;
  c.context_tokens = 1;
  ModelSpec mha = preset("llama2-70b");
  mha.num_query_groups = 64;
  const Bytes gqa = kv_cache(preset("llama2-70b"), c).bytes_per_token;
  EXPECT_EQ(gqa.value, 327'680u);
  EXPECT_EQ(kv_cache(mha, c).bytes_per_token.value, 8 * gqa.value);
}

TEST(KvCache, MlaCachesTheCompressedLatent) {
  // DeepSeek-V3 (MLA): kv_lora_rank 512 + qk_rope_head_dim 64 = 576 values per token per layer (DeepSeek-V2 report
  // Sec. 2.1: (d_c + d_h^R) * l elements per token), 61 layers, bf16: 576 * 61 * 2 = 70,272 bytes per token, the
  // same on every TP rank (one latent, not split by heads). Per-head K/V would be 2*128*128*61*2 = 3,997,696 / tp.
  KvCacheConfig c;
  c.context_tokens = 1;
  EXPECT_EQ(kv_cache(preset("deepseek-v3"), c).bytes_per_token.value, 70'272u);
  c.tp = 8;
  EXPECT_EQ(kv_cache(preset("deepseek-v3"), c).bytes_per_token.value, 70'272u);
}

TEST(KvCache, PagedBlocksAndBatch) {
  // Llama-3-8B: 2 * 32 * 8 * 128 * 2 = 131,072 bytes per token. 4 sequences of 1000 + 30 tokens in
  // 16-token blocks: ceil(1030/16) = 65 blocks = 1040 tokens each -> 4 * 1040 * 131,072 bytes.
  KvCacheConfig c;
  c.num_sequences = 4;
  c.context_tokens = 1000;
  c.new_tokens = 30;
  c.block_size = 16;
  const KvCache kv = kv_cache(preset("llama3-8b"), c);
  EXPECT_EQ(kv.tokens_per_sequence, 1040);
  EXPECT_EQ(kv.total.value, 4ULL * 1040 * 131'072);
}

TEST(KvCache, TensorParallelKeepsAtLeastOneHeadPerRank) {
  // Llama-3-8B has 8 KV heads: tp 4 -> 2 per rank; tp 16 -> replicated, 1 per rank.
  KvCacheConfig c;
  c.context_tokens = 1;
  c.tp = 4;
  EXPECT_EQ(kv_cache(preset("llama3-8b"), c).kv_heads_per_rank, 2);
  c.tp = 16;
  EXPECT_EQ(kv_cache(preset("llama3-8b"), c).kv_heads_per_rank, 1);
  c.tp = 3;
  EXPECT_THROW(kv_cache(preset("llama3-8b"), c), ConfigError);
}

TEST(KvCache, SlidingWindowLayersKeepTheWindowOnly) {
  // Gemma-2-9B: 8 KV heads of 256, 2 * 8 * 256 * 2 bytes = 8,192 bytes per layer and token. Of 42 layers the 21
  // even ones are local (window 4096): at 8192 tokens they keep 4096, the 21 global ones all 8192:
  // 8,192 * (21 * 8192 + 21 * 4096) = 2,113,929,216 bytes (a full cache would be 8,192 * 42 * 8192 = 2,818,572,288).
  KvCacheConfig c;
  c.context_tokens = 8192;
  c.local_layers = 21;
  const KvCache kv = kv_cache(preset("gemma2-9b"), c);
  EXPECT_EQ(kv.bytes_per_token.value, 8'192u * 42);
  EXPECT_EQ(kv.total.value, 2'113'929'216ULL);
  // Below the window nothing changes: 1000 tokens -> 8,192 * 42 * 1000.
  c.context_tokens = 1000;
  EXPECT_EQ(kv_cache(preset("gemma2-9b"), c).total.value, 8'192ULL * 42 * 1000);
  // Paged: the window rounds up to whole blocks like the context: 4100 tokens in blocks of 16 -> 4112 for the
  // global layers, min(4100, 4096) = 4096 (256 blocks) for the local ones.
  c.context_tokens = 4100;
  c.block_size = 16;
  EXPECT_EQ(kv_cache(preset("gemma2-9b"), c).total.value, 8'192ULL * (21 * 4112 + 21 * 4096));
  // Local layers without a window are an error, not a silent cap.
  c.local_layers = 1;
  EXPECT_THROW(kv_cache(preset("llama3-8b"), c), ConfigError);
}

}  // namespace
}  // namespace trainmem::sim
