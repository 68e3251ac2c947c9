// Inference memory through estimate(): KV cache against the vLLM paper, GQA, quantised weights, paged
// rounding, TP with fewer KV heads than ranks, and the largest batch/context that fits, all derived by hand.
#include "sim/serving/inference_memory.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"
#include "sim/accounting/estimate.hpp"

namespace trainmem::sim {
namespace {

Scenario serving(const char* preset) {
  Scenario sc;
  const ModelPreset* p = find_model_preset(preset);
  sc.model = p->spec;
  sc.default_seq_length = p->default_seq_length;
  sc.inference.enabled = true;
  sc.runtime.enabled = false;  // the derivations below count weights, KV cache and workspace only
  return sc;
}

const InferenceRank& rank0(const EstimateResult& r) { return *r.classes.at(0).inference; }

TEST(InferenceMemory, Opt13bKvCacheIs800KiBPerToken) {
  // vLLM paper (Kwon et al. 2023, Sec. 2): "2 (key and value vectors) x 5120 (hidden state size) x 40 (number of
  // layers) x 2 (bytes per FP16) = 800 KB" per token = 819,200 bytes. fp16 weights -> fp16 KV cache.
  Scenario sc = serving("opt-13b");
  sc.inference.weights.dtype = Dtype::fp16;
  sc.inference.kv_block_size = 0;
  sc.training.seq_length = 1;
  const EstimateResult r = estimate(sc);
  EXPECT_EQ(rank0(r).kv.bytes_per_token.value, 819'200u);
  EXPECT_EQ(r.classes[0].kv_cache.value, 819'200u);  // one token of one sequence
  // A full 2048-token context (OPT's maximum) of one request: 2048 x 819,200 B = 1.5625 GiB.
  sc.training.seq_length = 2048;
  EXPECT_EQ(estimate(sc).classes[0].kv_cache.value, 2048ULL * 819'200);
}

TEST(InferenceMemory, Llama2_70bGqaIsEightTimesSmallerThanMha) {
  // Llama-2-70B: 80 layers, 8 KV heads of 128: 2 * 80 * 8 * 128 * 2 = 327,680 bytes per token; with MHA (64 KV
  // heads) 2,621,440: exactly 8x. Same ratio for the whole 4096-token cache (4096 is a multiple of 16).
  Scenario gqa = serving("llama2-70b");
  Scenario mha = gqa;
  mha.model->num_query_groups = 64;
  const EstimateResult a = estimate(gqa), b = estimate(mha);
  EXPECT_EQ(rank0(a).kv.bytes_per_token.value, 327'680u);
  EXPECT_EQ(rank0(b).kv.bytes_per_token.value, 2'621'440u);
  EXPECT_EQ(a.classes[0].kv_cache.value, 4096ULL * 327'680);
  EXPECT_EQ(b.classes[0].kv_cache.value, 8 * a.classes[0].kv_cache.value);
}

TEST(InferenceMemory, Int4WeightsOfLlama2_7bByHand) {
  // Llama-2-7B linear weights per layer: QKV 4096*(32+2*32)*128 = 50,331,648; o_proj 4096*4096 = 16,777,216;
  // gate+up 2*4096*11008 = 90,177,536; down 11008*4096 = 45,088,768; sum 202,375,168; x 32 = 6,476,005,376.
  //   int4 data: 6,476,005,376 / 2 = 3,238,002,688 B
  //   fp16 scale per 128: 202,375,168 / 128 = 1,581,056 groups per layer (every matrix divides) x 2 B x 32
  //     = 101,187,584 B
  //   the rest in bf16: 6,738,415,616 - 6,476,005,376 = 262,410,240 (embedding and LM head 2 x 32000 x 4096,
  //     65 RMSNorms of 4096) x 2 = 524,820,480 B
  //   total 3,864,010,752 B (vs 13,476,831,232 in bf16: 3.49x smaller).
  Scenario sc = serving("llama2-7b");
  sc.inference.weights.dtype = Dtype::int4;
  const EstimateResult r = estimate(sc);
  const RankWeights& w = rank0(r).weights;
  EXPECT_EQ(w.quantized_elements.value, 6'476'005'376u);
  EXPECT_EQ(w.quantized.data.value, 3'238'002'688u);
  EXPECT_EQ(w.quantized.scales.value, 101'187'584u);
  EXPECT_EQ(w.other.value, 524'820'480u);
  EXPECT_EQ(r.classes[0].bytes[MemoryCategory::params].value, 3'864'010'752u);
  // No training state at all.
  EXPECT_EQ(r.classes[0].bytes[MemoryCategory::grads].value, 0u);
  EXPECT_EQ(r.classes[0].bytes[MemoryCategory::optimizer_states].value, 0u);
  EXPECT_EQ(r.classes[0].bytes[MemoryCategory::master_params].value, 0u);
  // bf16: 2 bytes for every parameter, no scales.
  sc.inference.weights.dtype = Dtype::bf16;
  EXPECT_EQ(estimate(sc).classes[0].bytes[MemoryCategory::params].value, 2ULL * 6'738'415'616);
}

TEST(InferenceMemory, PagedBlocksRoundEachSequenceUp) {
  // Llama-2-7B: 2 * 32 * 32 * 128 * 2 = 524,288 bytes per token. 2 sequences of 1000 + 30 tokens in blocks of
  // 16: ceil(1030 / 16) = 65 blocks = 1040 tokens each -> 2 * 1040 * 524,288 = 1,090,519,040 B; contiguous:
  // 2 * 1030 * 524,288 = 1,080,033,280 B.
  Scenario sc = serving("llama2-7b");
  sc.training.seq_length = 1000;
  sc.training.micro_batch_size = 2;
  sc.inference.max_new_tokens = 30;
  sc.inference.kv_block_size = 16;
  EXPECT_EQ(rank0(estimate(sc)).kv.tokens_per_sequence, 1040);
  EXPECT_EQ(estimate(sc).classes[0].kv_cache.value, 1'090'519'040u);
  sc.inference.kv_block_size = 0;
  EXPECT_EQ(estimate(sc).classes[0].kv_cache.value, 1'080'033'280u);
}

TEST(InferenceMemory, TensorParallelKeepsAtLeastOneKvHeadPerRank) {
  // Llama-2-70B has 8 KV heads. tp 4: 2 heads per rank -> 2 * 80 * 2 * 128 * 2 = 81,920 B per token;
  // tp 16: each head replicated on 2 ranks, 1 per rank -> 40,960 (not 327,680 / 16 = 20,480).
  Scenario sc = serving("llama2-70b");
  sc.parallel.tp = 4;
  EXPECT_EQ(rank0(estimate(sc)).kv.bytes_per_token.value, 81'920u);
  sc.parallel.tp = 16;
  const EstimateResult r = estimate(sc);
  EXPECT_EQ(rank0(r).kv.kv_heads_per_rank, 1);
  EXPECT_EQ(rank0(r).kv.bytes_per_token.value, 40'960u);
  EXPECT_EQ(r.world_size, 16);
  // Weights per rank follow the replication: QKV h * (64/16 query heads + 2 x 1 KV head) * 128 = 6,291,456;
  // o_proj 64/16 * 128 * 8192 = 4,194,304; gate+up 2 * 8192 * 28672/16 = 29,360,128; down 14,680,064: linear
  // 54,525,952 per layer x 80 = 4,362,076,160 elements.
  EXPECT_EQ(rank0(r).weights.quantized_elements.value, 4'362'076'160u);
  // Pipeline parallelism: 2 stages of 40 layers, 8 heads each -> 2 * 40 * 8 * 128 * 2 = 163,840 per stage.
  Scenario pp = serving("llama2-70b");
  pp.parallel.pp = 2;
  const EstimateResult rp = estimate(pp);
  for (const auto& c : rp.classes) EXPECT_EQ(c.inference->kv.bytes_per_token.value, 163'840u);
}

TEST(InferenceMemory, Gemma2SlidingWindowLayersPerStage) {
  // Gemma-2-9B serving at its 8192-token context (bf16 KV, 16-token blocks): 8,192 bytes per layer and token.
  // Layers 0, 2, ..., 40 (21) are local with a 4096-token window; the 21 odd ones global.
  Scenario sc = serving("gemma2-9b");
  EXPECT_EQ(estimate(sc).classes[0].kv_cache.value, 8'192ULL * (21 * 8192 + 21 * 4096));
  // pp 2: stage 0 holds layers 0-20 (11 even = local, 10 global), stage 1 layers 21-41 (10 local, 11 global).
  sc.parallel.pp = 2;
  const EstimateResult r = estimate(sc);
  ASSERT_EQ(r.classes.size(), 2u);
  EXPECT_EQ(r.classes[0].kv_cache.value, 8'192ULL * (10 * 8192 + 11 * 4096));
  EXPECT_EQ(r.classes[1].kv_cache.value, 8'192ULL * (11 * 8192 + 10 * 4096));
}

TEST(InferenceMemory, LargestBatchAndContextOnAn80GiBGpuByHand) {
  // Llama-2-7B in bf16, context 4096, 80 GiB = 85,899,345,920 B. Per sequence:
  //   KV: 4096 * 524,288 = 2,147,483,648 B;
  //   workspace (one layer of the prefill): 4096 tokens * (2h + max(attention (32+64)*128 + 32*128 = 16,384,
  //     mlp 3 * 11008 = 33,024)) * 2 B = 4096 * 41,216 * 2 = 337,641,472 B, larger than the logits phase
  //     (4096*4096*2 + 32000*(2+4) = 33,746,432 B).
  //   peak(b) = 13,476,831,232 + b * 2,485,125,120 <= 85,899,345,920  ->  b <= 29.14  ->  29.
  // At b = 1: peak(s) = 13,476,831,232 + ceil16(s) * 524,288 + s * 82,432. s = 119,360 (a block multiple):
  //   119,360 * 606,720 = 72,418,099,200 <= 72,422,514,688 fits; s = 119,361 needs 119,376 KV tokens:
  //   119,376 * 524,288 + 119,361 * 82,432 = 72,426,668,544 does not.
  Scenario sc = serving("llama2-7b");
  sc.gpu_memory = Bytes(80 * kGiB);
  const EstimateResult r = estimate(sc);
  EXPECT_EQ(rank0(r).workspace.layer.value, 337'641'472u);
  EXPECT_EQ(rank0(r).workspace.logits.value, 33'746'432u);
  EXPECT_EQ(r.max_peak.value, 13'476'831'232u + 2'485'125'120u);
  ASSERT_TRUE(r.inference_capacity.has_value());
  EXPECT_EQ(r.inference_capacity->max_micro_batch_size, 29);
  EXPECT_EQ(r.inference_capacity->max_seq_length, 119'360);
  // The answer really is the boundary.
  sc.training.micro_batch_size = 29;
  EXPECT_TRUE(*estimate(sc).fits);
  sc.training.micro_batch_size = 30;
  EXPECT_FALSE(*estimate(sc).fits);
  // With the runtime model on (CUDA context, workspaces, allocator rounding and fragmentation reserve) the
  // capacity is judged by the same full estimate as `fits`, so it is still exactly the boundary.
  sc.runtime.enabled = true;
  sc.training.micro_batch_size = 1;
  const EstimateResult with_runtime = estimate(sc);
  const std::int64_t b = with_runtime.inference_capacity->max_micro_batch_size;
  EXPECT_LT(b, 29);
  sc.training.micro_batch_size = b;
  EXPECT_TRUE(*estimate(sc).fits);
  sc.training.micro_batch_size = b + 1;
  EXPECT_FALSE(*estimate(sc).fits);
}

TEST(InferenceMemory, ChunkedPrefillBoundsTheWorkspace) {
  // 8 sequences of 4096 tokens with max_num_batched_tokens 2048: one forward holds 2048 tokens ->
  // 2048 * 41,216 * 2 = 168,820,736 B instead of 32,768 tokens' 2,701,131,776 B.
  Scenario sc = serving("llama2-7b");
  sc.training.micro_batch_size = 8;
  EXPECT_EQ(rank0(estimate(sc)).workspace.total.value, 32'768ULL * 41'216 * 2);
  sc.inference.max_num_batched_tokens = 2048;
  EXPECT_EQ(rank0(estimate(sc)).workspace.total.value, 168'820'736u);
}

TEST(InferenceMemory, TrainingLayoutsAreErrors) {
  Scenario sc = serving("llama2-7b");
  sc.parallel.zero_stage = 3;
  EXPECT_THROW(estimate(sc), ConfigError);
  sc = serving("llama2-7b");
  sc.lora.rank = 8;
  EXPECT_THROW(estimate(sc), ConfigError);
  sc = serving("llama2-7b");
  sc.inference.weights.dtype = Dtype::bf16;
  sc.inference.weights.double_quantization = true;  // only nf4 has block scales to quantise
  EXPECT_THROW(estimate(sc), ConfigError);
  sc = serving("opt-13b");  // learned positions: 2050 rows
  sc.training.seq_length = 2048;
  sc.inference.max_new_tokens = 3;
  EXPECT_THROW(estimate(sc), ConfigError);
}

}  // namespace
}  // namespace trainmem::sim
