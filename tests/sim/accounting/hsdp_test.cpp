// HSDP (PyTorch FSDP HYBRID_SHARD, FSDP2 on a (replicate, shard) mesh; ParallelConfig::shard_group_size): ZeRO /
// FSDP states shard over the shard group of S ranks, not over dp; the dp / S groups hold replicas.
#include <gtest/gtest.h>

#include <string>

#include "partition/error.hpp"
#include "partition/parallel_config.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/runtime/runtime_memory.hpp"

namespace trainmem::sim {
namespace {

Scenario bare_7b(std::int64_t dp, std::int64_t shard_group, int zero) {
  Scenario sc;
  sc.num_parameters = ElementCount(7000000000ULL);
  sc.parallel.dp = dp;
  sc.parallel.shard_group_size = shard_group;
  sc.parallel.zero_stage = zero;
  sc.training.recipe = "mixed-16";
  sc.training.optimizer = "adam";
  sc.training.micro_batch_size = 1;
  sc.runtime.enabled = false;
  return sc;
}

TEST(Hsdp, SevenBillionZeroThreeShardsOverTheGroupNotDp) {
  // 7e9 parameters, dp 16 = 2 replicas x shard group 8, ZeRO-3, mixed-16 (bf16 params 2 + bf16 grads 2 + fp32
  // master 4 + Adam m, v 4 + 4 bytes). Each state is split 8 ways: 7e9 / 8 = 875,000,000 elements per rank, so
  //   params         2 * 875,000,000 = 1,750,000,000
  //   grads          2 * 875,000,000 = 1,750,000,000
  //   master params  4 * 875,000,000 = 3,500,000,000
  //   Adam m, v      8 * 875,000,000 = 7,000,000,000   total 16 * 875e6 = 14,000,000,000
  // Plain ZeRO-3 over dp 16 would hold half of each (7e9 / 16 = 437,500,000 elements, 7,000,000,000 bytes).
  const EstimateResult r = estimate(bare_7b(16, 8, 3));
  ASSERT_EQ(r.classes.size(), 1U);
  const MemoryBreakdown& b = r.classes[0].bytes;
  EXPECT_EQ(b[MemoryCategory::params].value, 1750000000U);
  EXPECT_EQ(b[MemoryCategory::grads].value, 1750000000U);
  EXPECT_EQ(b[MemoryCategory::master_params].value, 3500000000U);
  EXPECT_EQ(b[MemoryCategory::optimizer_states].value, 7000000000U);
  EXPECT_EQ(r.max_peak.value, 14000000000U);
  EXPECT_EQ(estimate(bare_7b(16, 0, 3)).max_peak.value, 7000000000U);   // shard_group_size 0 = dp: / 16
  EXPECT_EQ(estimate(bare_7b(16, 16, 3)).max_peak.value, 7000000000U);  // S = dp: the same
}

TEST(Hsdp, ZeroOneAndTwoShardOnlyTheirStatesOverTheGroup) {
  // ZeRO-1 (dp 16, S 4): params 2 * 7e9 = 14e9 and grads 14e9 whole; master 4 * 7e9 / 4 = 7e9, Adam 8 * 7e9 / 4 =
  // 14e9: 49,000,000,000. ZeRO-2: grads too, 2 * 7e9 / 4 = 3.5e9: 14e9 + 3.5e9 + 7e9 + 14e9 = 38,500,000,000.
  EXPECT_EQ(estimate(bare_7b(16, 4, 1)).max_peak.value, 49000000000U);
  EXPECT_EQ(estimate(bare_7b(16, 4, 2)).max_peak.value, 38500000000U);
}

TEST(Hsdp, CommunicatorsAreTheShardAndReplicateGroups) {
  ParallelConfig p;
  p.dp = 16;
  p.shard_group_size = 8;
  p.zero_stage = 3;
  p = resolve(p, nullptr);
  EXPECT_TRUE(p.hybrid_shard());
  EXPECT_EQ(p.zero_shard_ways(), 8);
  const auto comms = communicators(p, false, RuntimeConfig{});
  ASSERT_EQ(comms.size(), 2U);
  EXPECT_EQ(comms[0].group, "dp_shard");
  EXPECT_EQ(comms[0].size, 8);
  EXPECT_EQ(comms[1].group, "dp_replicate");
  EXPECT_EQ(comms[1].size, 2);  // 16 / 8 replicas
}

TEST(Hsdp, ResolveFillsTheGroupWithDp) {
  ParallelConfig p;
  p.world_size = 32;
  p.tp = 2;
  p = resolve(p, nullptr);
  EXPECT_EQ(p.shard_group_size, 16);  // dp = 32 / 2
  EXPECT_FALSE(p.hybrid_shard());
  EXPECT_EQ(p.zero_shard_ways(), 16);
}

std::string resolve_error(std::int64_t dp, std::int64_t group, int zero, std::int64_t cp = 1) {
  ParallelConfig p;
  p.dp = dp;
  p.cp = cp;
  p.shard_group_size = group;
  p.zero_stage = zero;
  try {
    resolve(p, nullptr);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "shard_group_size");
    return e.what();
  }
  return "(no error)";
}

TEST(Hsdp, BadGroupsNameTheField) {
  EXPECT_EQ(resolve_error(16, 3, 3), "shard_group_size = 3: data_parallel_size (16) is not divisible by it");
  EXPECT_EQ(resolve_error(16, 32, 3), "shard_group_size = 32: must be between 1 and data_parallel_size 16");
  EXPECT_EQ(resolve_error(16, -1, 3), "shard_group_size = -1: must be between 1 and data_parallel_size 16");
  EXPECT_EQ(resolve_error(16, 8, 0),
            "shard_group_size = 8: HSDP (a shard group smaller than data_parallel_size 16) needs ZeRO / FSDP "
            "sharding; zero_stage is 0");
  EXPECT_EQ(resolve_error(8, 4, 1, 2),
            "shard_group_size = 4: HSDP (a shard group smaller than data_parallel_size 8) is not modelled with "
            "context_parallel_size > 1");
  EXPECT_EQ(resolve_error(16, 16, 0), "(no error)");  // S = dp is plain data parallelism at any stage
}

}  // namespace
}  // namespace trainmem::sim
