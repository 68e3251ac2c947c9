#include "sim/accounting/model_state_memory.hpp"

#include <gtest/gtest.h>

#include "partition/model_presets.hpp"
#include "sim/accounting/estimate.hpp"

namespace trainmem::sim {
namespace {

RankParamShard dense(std::uint64_t n) {
  RankParamShard s;
  s.dense = ElementCount(n);
  return s;
}

Bytes total(const char* recipe, const char* optimizer, int stage, std::uint64_t n, std::int64_t dp) {
  return model_state_memory(dense(n), *find_recipe(recipe), *find_optimizer(optimizer), stage, dp, dp)
      .breakdown.total();
}

TEST(ModelStateMemory, RecipesGive16_18_20BytesPerParameter) {
  EXPECT_EQ(total("mixed-16", "adam", 0, 1000, 1).value, 16000u);  // 2 + 2 + 4 + 4 + 4
  EXPECT_EQ(total("zero-paper", "adam", 0, 1000, 1).value, 16000u);
  EXPECT_EQ(total("megatron", "adam", 0, 1000, 1).value, 18000u);   // 2 + 4 + 4 + 8
  EXPECT_EQ(total("deepspeed", "adam", 0, 1000, 1).value, 20000u);  // 2 + 2 + 4 + 4 + 8
  EXPECT_EQ(total("fp32", "adam", 0, 1000, 1).value, 16000u);       // 4 + 4 + 8
  EXPECT_EQ(total("bf16", "adam", 0, 1000, 1).value, 8000u);        // 2 + 2 + 2 + 2
  EXPECT_EQ(total("mixed-16", "sgd", 0, 1000, 1).value, 8000u);     // 2 + 2 + 4
  EXPECT_EQ(total("mixed-16", "sgd-momentum", 0, 1000, 1).value, 12000u);
}

TEST(ModelStateMemory, MegatronDistributedOptimizerIsSixPlusTwelveOverDp) {
  // Megatron: 6 + 12/d bytes per parameter with the distributed optimizer (ZeRO-1 under mixed-18).
  EXPECT_EQ(total("megatron", "adam", 1, 8000, 8).value, 6u * 8000 + 12u * 8000 / 8);
}

TEST(ModelStateMemory, DeepSpeedFp32GradCopyShardsWithTheOptimizer) {
  // mixed-20 at stage 1, dp 4, 1000 params: bf16 params 2000 + bf16 grads 2000 (unsharded until stage 2)
  // + (fp32 grad copy 4 + master 4 + m,v 8) * 250 = 4000 + 4000.
  EXPECT_EQ(total("deepspeed", "adam", 1, 1000, 4).value, 8000u);
  // Stage 2 also shards the bf16 grads: 2000 + (2 + 16) * 250.
  EXPECT_EQ(total("deepspeed", "adam", 2, 1000, 4).value, 2000u + 18u * 250);
}

TEST(ModelStateMemory, ShardsRoundUp) {
  // 10 params over dp 4: each rank holds ceil(10/4) = 3 elements of a sharded class.
  EXPECT_EQ(total("mixed-16", "adam", 3, 10, 4).value, 16u * 3);
}

TEST(ModelStateMemory, Adam8bitKeepsBlockScales) {
  // 1000 params, mixed-16 + adam-8bit: 2 + 2 + 4 bytes + m,v 1 byte each + ceil(1000/256)=4 fp32 absmax per state.
  EXPECT_EQ(total("mixed-16", "adam-8bit", 0, 1000, 1).value, 8000u + 2000u + 2u * 4 * 4);
}

TEST(ModelStateMemory, ExpertParametersShardOverExpertDataParallel) {
  // 800 dense over dp 8 and 400 expert over edp 2, ZeRO-1 mixed-16: params+grads 4*(800+400) unsharded,
  // master+m+v 12 * (800/8 + 400/2).
  RankParamShard s;
  s.dense = ElementCount(800);
  s.expert = ElementCount(400);
  const auto m = model_state_memory(s, *find_recipe("mixed-16"), *find_optimizer("adam"), 1, 8, 2);
  EXPECT_EQ(m.breakdown.total().value, 4u * 1200 + 12u * (100 + 200));
}

TEST(Estimate, RanksWithEqualNumbersFormOneClass) {
  // llama2-7b, pp 4, tp 2, dp 2: stage 0 (embedding), stages 1-2 (layers only), stage 3 (norm + LM head).
  Scenario sc;
  sc.model = find_model_preset("llama2-7b")->spec;
  sc.parallel.tp = 2;
  sc.parallel.pp = 4;
  sc.parallel.dp = 2;
  const EstimateResult r = estimate(sc);
  ASSERT_EQ(r.classes.size(), 3u);
  EXPECT_EQ(r.classes[0].ranks, (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(r.classes[1].pp_ranks, (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(r.classes[1].ranks.size(), 8u);
  EXPECT_EQ(r.classes[2].ranks.front(), 12);
  // Untied Llama: the first and last stages each hold a vocab shard (32000 is already a multiple of
  // 128 * tp = 256, so 16000 rows per TP rank); the last also has the final RMSNorm (h params).
  const std::uint64_t vocab_shard = 16000ULL * 4096;
  EXPECT_EQ(r.classes[0].shard.total().value - r.classes[1].shard.total().value, vocab_shard);
  EXPECT_EQ(r.classes[2].shard.total().value - r.classes[1].shard.total().value, vocab_shard + 4096);
}

TEST(Estimate, DistributedOptimizerShardsOverDataAndContextParallel) {
  // Megatron shards the optimizer over the data-parallel group with context parallelism: llama2-7b, cp 2,
  // dp 2, distributed optimizer (mixed-18): 6 bytes/param unsharded + 12 * ceil(n / (2 * 2)), with
  // n = 6,738,415,616 (vocab 32000 needs no padding at tp 1).
  Scenario sc;
  sc.model = find_model_preset("llama2-7b")->spec;
  sc.default_seq_length = 4096;
  sc.parallel.cp = 2;
  sc.parallel.dp = 2;
  sc.training.recipe = "megatron";
  sc.training.use_distributed_optimizer = true;
  const EstimateResult r = estimate(sc);
  const std::uint64_t n = 6'738'415'616ULL;
  EXPECT_EQ(r.classes.front().model_states.breakdown.total().value, 6 * n + 12 * (n / 4));
}

}  // namespace
}  // namespace trainmem::sim
