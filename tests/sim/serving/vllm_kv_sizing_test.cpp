// vLLM's start-up KV cache sizing (sim/serving/vllm_kv_sizing.hpp): Llama-3-70B on 4 H100-80GB by hand, fp8 KV
// halving the bytes, block rounding, the max_model_len verdict, max_num_seqs capping the concurrency, and the
// gpu_memory_utilization range. Every expected number is derived in the comments (vLLM's formulas: see the header).
#include "sim/serving/vllm_kv_sizing.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"
#include "sim/accounting/estimate.hpp"

namespace trainmem::sim {
namespace {

// H100 80GB HBM3: nvidia-smi total 81559 MiB = 85,520,809,984 B (sim/runtime/device_spec.cpp).
constexpr std::uint64_t kH100 = 81559ULL * kMiB;

Scenario llama3_70b_tp4() {
  Scenario sc;
  const ModelPreset* p = find_model_preset("llama3-70b");
  sc.model = p->spec;
  sc.default_seq_length = p->default_seq_length;
  sc.inference.enabled = true;
  sc.runtime.enabled = false;  // non-torch memory 0: the derivation counts weights, activations and KV only
  sc.parallel.tp = 4;
  sc.training.seq_length = 8192;
  sc.inference.max_model_len = 8192;
  sc.gpu_memory = Bytes(kH100);
  return sc;
}

// One worker whose numbers are easy to follow: 1 layer of 1 B per token, nothing else on a 1000 B "GPU".
VllmWorker tiny_worker() {
  VllmWorker w;
  w.kv_bytes_per_token_layer = Bytes(1);
  w.num_layers = 1;
  return w;
}

TEST(VllmKvSizing, Llama3_70bTp4OnH100ByHand) {
  // Llama-3-70B (HF config): 80 layers, hidden 8192, ffn 28672, 64 heads, 8 KV heads of 128, vocab 128256, untied.
  // Per layer: q 8192*8192 + k 8192*1024 + v 8192*1024 + o 8192*8192 + gate/up/down 3*8192*28672
  //   = 855,638,016 linear weights + 2 RMSNorms of 8192 (whole on every TP rank).
  // Total 80*(855,638,016 + 16,384) + 2*128,256*8192 + 8192 = 70,553,706,496 (the preset's count).
  // tp 4: linear 855,638,016 / 4 = 213,909,504 per layer; vocab padded to a multiple of 128*4: 128,512, so the
  // embedding and the LM head hold 128,512/4 * 8192 = 263,192,576 each.
  //   elements per rank = 80*213,909,504 + 80*16,384 + 2*263,192,576 + 8192 = 17,640,464,384
  //   bf16 weights per rank = 35,280,928,768 B
  const Scenario sc = llama3_70b_tp4();
  const EstimateResult r = estimate(sc);
  ASSERT_TRUE(r.vllm.has_value());
  EXPECT_EQ(r.num_parameters.value, 70'553'706'496u);
  EXPECT_EQ(r.classes[0].inference->weights.total().value, 35'280'928'768u);
  // KV per token per rank: 2 (K, V) * 8/4 KV heads * 128 * 2 B (bf16) * 80 layers = 81,920 B;
  // a page (one block of 16 tokens of one layer) = 16 * 2 * 2 * 128 * 2 = 16,384 B.
  EXPECT_EQ(r.classes[0].inference->kv.bytes_per_token.value, 81'920u);
  const VllmKvSizing& v = *r.vllm;
  ASSERT_EQ(v.workers.size(), 1u);
  const VllmWorkerBudget& w = v.workers[0];
  EXPECT_EQ(w.page_bytes.value, 16'384u);
  // requested = ceil(85,520,809,984 * 0.9) = ceil(76,968,728,985.6) = 76,968,728,986
  EXPECT_EQ(w.requested.value, 76'968'728'986u);
  // Profile forward: 2048 tokens (vLLM's default max_num_batched_tokens), min(128, 2048) = 128 sampled rows.
  //   layer: 2048 * [2*8192 + max(attention (16 + 2*2)*128 + 16*128 = 4608, mlp 3*28672/4 = 21,504)] * 2 B
  //        = 2048 * 37,888 * 2 = 155,189,248 B
  //   logits: 2048*8192*2 + 128 * 128,512/4 * (2 + 4) = 33,554,432 + 24,674,304 = 58,228,736 B (smaller)
  EXPECT_EQ(w.activation_peak.value, 155'189'248u);
  EXPECT_EQ(w.non_torch.value, 0u);  // runtime off
  // available = 76,968,728,986 - (35,280,928,768 + 155,189,248) = 41,532,610,970 B
  EXPECT_EQ(w.available.value, 41'532'610'970u);
  // num_blocks = 41,532,610,970 // 16,384 // 80 = 31,686; KV cache size = 31,686 * 16 = 506,976 tokens
  EXPECT_EQ(v.num_blocks, 31'686);
  EXPECT_EQ(v.kv_cache_tokens, 506'976);
  // 8192 tokens per request = 512 blocks: "Maximum concurrency for 8,192 tokens per request: 61.89x"
  EXPECT_EQ(v.blocks_per_request, 512);
  EXPECT_DOUBLE_EQ(v.max_concurrency, 31'686.0 / 512.0);  // 61.88671875
  EXPECT_EQ(v.concurrent_requests, 61);                   // under max_num_seqs 128
  EXPECT_TRUE(v.max_model_len_fits);
}

TEST(VllmKvSizing, Fp8KvCacheHalvesTheBytesAndDoublesTheBlocks) {
  // fp8 (e4m3 or e5m2): 1 byte per element: 40,960 B per token per rank, pages of 8,192 B. The weights and the
  // profile activations (compute dtype bf16) are unchanged, so available is the same 41,532,610,970 B:
  // 41,532,610,970 // 8,192 // 80 = 63,373 blocks (2 * 31,686 + 1: the floor of the halved divisor).
  Scenario sc = llama3_70b_tp4();
  sc.inference.kv_cache_dtype = Dtype::fp8;
  const EstimateResult r = estimate(sc);
  EXPECT_EQ(r.classes[0].inference->kv.bytes_per_token.value, 40'960u);
  EXPECT_EQ(r.vllm->workers[0].page_bytes.value, 8'192u);
  EXPECT_EQ(r.vllm->workers[0].available.value, 41'532'610'970u);
  EXPECT_EQ(r.vllm->num_blocks, 63'373);
}

TEST(VllmKvSizing, RuntimeCountsContextNcclAndWorkspacesNotTheAllocatorReserve) {
  // tp 1 has no NCCL communicator; non-torch = CUDA context 512 MiB + cuBLAS workspace 32 MiB = 570,425,344 B
  // (sim/runtime/runtime_config.hpp defaults). The fragmentation reserve and segment rounding are left out: vLLM
  // measures allocated bytes at the profile's peak.
  Scenario on;
  on.model = find_model_preset("llama2-7b")->spec;
  on.inference.enabled = true;
  on.training.seq_length = 4096;
  on.gpu_memory = Bytes(kH100);
  Scenario off = on;
  off.runtime.enabled = false;
  const EstimateResult a = estimate(on), b = estimate(off);
  EXPECT_EQ(a.vllm->workers[0].non_torch.value, 570'425'344u);
  EXPECT_EQ(b.vllm->workers[0].available.value - a.vllm->workers[0].available.value, 570'425'344u);
}

TEST(VllmKvSizing, SeventeenTokensTakeTwoBlocksOfSixteen) {
  // 1000 B, 1 B per token per layer, 1 layer: page 16 B, 1000 // 16 = 62 blocks = 992 tokens.
  const VllmKvSizing v = vllm_kv_sizing({tiny_worker()}, Bytes(1000), 1.0, 16, 17, 128);
  EXPECT_EQ(v.num_blocks, 62);
  EXPECT_EQ(v.kv_cache_tokens, 992);
  EXPECT_EQ(v.blocks_per_request, 2);         // cdiv(17, 16)
  EXPECT_DOUBLE_EQ(v.max_concurrency, 31.0);  // 62 / 2, not 992 / 17 = 58.35
  EXPECT_EQ(v.concurrent_requests, 31);
  EXPECT_DOUBLE_EQ(vllm_concurrency(62, 16, 16), 62.0);  // 16 tokens: exactly one block
  EXPECT_DOUBLE_EQ(vllm_concurrency(62, 16, 33), 62.0 / 3.0);
}

TEST(VllmKvSizing, MaxNumSeqsCapsTheConcurrency) {
  // 62 blocks, requests of 16 tokens (one block): 62 fit in the cache, but only max_num_seqs 40 run at once.
  const VllmKvSizing v = vllm_kv_sizing({tiny_worker()}, Bytes(1000), 1.0, 16, 16, 40);
  EXPECT_DOUBLE_EQ(v.max_concurrency, 62.0);  // vLLM's log line ignores max_num_seqs
  EXPECT_EQ(v.concurrent_requests, 40);
  EXPECT_EQ(vllm_kv_sizing({tiny_worker()}, Bytes(1000), 1.0, 16, 16, 100).concurrent_requests, 62);
}

TEST(VllmKvSizing, MaxModelLenThatDoesNotFitIsAVerdictWithVllmsEstimate) {
  // 1000 tokens need cdiv(1000, 16) = 63 blocks = 1008 B > 1000 B available: vLLM refuses to start. Its estimate
  // (binary search of the longest length whose blocks fit) is 62 * 16 = 992 tokens.
  const VllmKvSizing v = vllm_kv_sizing({tiny_worker()}, Bytes(1000), 1.0, 16, 1000, 128);
  EXPECT_FALSE(v.max_model_len_fits);
  EXPECT_EQ(v.needed_for_one_request.value, 1008u);
  EXPECT_EQ(v.available_for_fit.value, 1000u);
  EXPECT_EQ(v.estimated_max_model_len, 992);
  EXPECT_EQ(v.concurrent_requests, 0);
  // 992 tokens fit exactly (62 blocks).
  EXPECT_TRUE(vllm_kv_sizing({tiny_worker()}, Bytes(1000), 1.0, 16, 992, 128).max_model_len_fits);
}

TEST(VllmKvSizing, NoRoomWhenTheWeightsTakeTheRequestedMemory) {
  // 0.5 * 1000 = 500 B requested; 600 B of weights: nothing for the cache ("No available memory for the cache
  // blocks").
  VllmWorker w = tiny_worker();
  w.weights = Bytes(600);
  const VllmKvSizing v = vllm_kv_sizing({w}, Bytes(1000), 0.5, 16, 16, 128);
  EXPECT_FALSE(v.workers[0].has_room);
  EXPECT_EQ(v.num_blocks, 0);
  EXPECT_FALSE(v.max_model_len_fits);
  EXPECT_EQ(v.estimated_max_model_len, 0);
}

TEST(VllmKvSizing, PipelineStagesTakeTheFewestBlocks) {
  // Stage 0: 2 layers, 1000 - 200 B of weights = 800 B -> 800 // 16 // 2 = 25 blocks; stage 1: 1 layer, 1000 B ->
  // 62 blocks; a stage without layers is left out. Every worker uses 25 (vLLM get_kv_cache_configs).
  VllmWorker s0 = tiny_worker(), s1 = tiny_worker(), empty = tiny_worker();
  s0.num_layers = 2;
  s0.weights = Bytes(200);
  s1.pp_rank = 1;
  empty.pp_rank = 2;
  empty.num_layers = 0;
  const VllmKvSizing v = vllm_kv_sizing({s0, s1, empty}, Bytes(1000), 1.0, 16, 16, 128);
  EXPECT_EQ(v.workers[0].num_blocks, 25);
  EXPECT_EQ(v.workers[1].num_blocks, 62);
  EXPECT_EQ(v.num_blocks, 25);
  EXPECT_EQ(v.limiting, 0u);
}

TEST(VllmKvSizing, GpuMemoryUtilizationMustBeInZeroToOne) {
  for (double bad : {0.0, -0.1, 1.01}) {
    try {
      vllm_kv_sizing({tiny_worker()}, Bytes(1000), bad, 16, 16, 128);
      ADD_FAILURE() << bad;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.field(), "gpu_memory_utilization");
    }
    Scenario sc = llama3_70b_tp4();
    sc.inference.gpu_memory_utilization = bad;
    EXPECT_THROW(estimate(sc), ConfigError) << bad;
  }
  EXPECT_EQ(vllm_requested_memory(Bytes(1000), 1.0).value, 1000u);  // 1 is allowed: the whole GPU
}

TEST(VllmKvSizing, BadSizesAreConfigErrors) {
  EXPECT_THROW(vllm_kv_sizing({tiny_worker()}, Bytes(1000), 0.9, 0, 16, 128), ConfigError);  // block size
  EXPECT_THROW(vllm_kv_sizing({tiny_worker()}, Bytes(1000), 0.9, 16, 0, 128), ConfigError);  // max_model_len
  EXPECT_THROW(vllm_kv_sizing({tiny_worker()}, Bytes(1000), 0.9, 16, 16, 0), ConfigError);   // max_num_seqs
  VllmWorker none = tiny_worker();
  none.num_layers = 0;
  EXPECT_THROW(vllm_kv_sizing({none}, Bytes(1000), 0.9, 16, 16, 128), ConfigError);  // no KV layer anywhere
  // vLLM needs max_num_batched_tokens >= max_num_seqs (default 2048 tokens).
  Scenario sc = llama3_70b_tp4();
  sc.inference.max_num_seqs = 4096;
  EXPECT_THROW(estimate(sc), ConfigError);
  sc.inference.max_num_batched_tokens = 4096;
  EXPECT_NO_THROW(estimate(sc));
  // Left at its default (0), max_num_seqs is vLLM's 128 lowered to a smaller max_num_batched_tokens: no error.
  Scenario small = llama3_70b_tp4();
  small.inference.max_num_batched_tokens = 64;
  EXPECT_EQ(estimate(small).vllm->max_num_seqs, 64);
}

}  // namespace
}  // namespace trainmem::sim
