// Non-model GPU memory: NCCL communicators per layout group, allocator rounding and the fragmentation
// reserve, and the identities estimate() reports (allocated, reserved, device total, safe budget). Every
// expected figure is derived in the comment above it from the documented defaults (docs/runtime-memory.md).
#include "sim/runtime/runtime_memory.hpp"

#include <gtest/gtest.h>

#include "partition/model_presets.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/engine/simulate.hpp"

namespace trainmem::sim {
namespace {

constexpr std::uint64_t kMiBytes = 1024ULL * 1024ULL;

ParallelConfig layout(std::int64_t tp, std::int64_t pp, std::int64_t dp) {
  ParallelConfig p;
  p.tp = tp;
  p.pp = pp;
  p.dp = dp;
  p.world_size = tp * pp * dp;
  p.etp = tp;
  return p;
}

TEST(RuntimeMemory, CommunicatorsOfTheGpt3Layout) {
  // tp 8 x pp 16 x dp 8: a tp ring and a dp ring of 16 channels x 2 connections (receive from the previous
  // rank, send to the next) x NCCL_BUFFSIZE 4 MiB = 128 MiB each; the pp group is p2p with two neighbours:
  // 2 channels x (2 peers x 2 connections) x 4 MiB = 32 MiB. Total 288 MiB.
  const auto comms = communicators(layout(8, 16, 8), false, RuntimeConfig{});
  ASSERT_EQ(comms.size(), 3u);
  EXPECT_EQ(comms[0].group, "tp");
  EXPECT_EQ(comms[0].bytes.value, 128 * kMiBytes);
  EXPECT_EQ(comms[1].group, "dp");
  EXPECT_EQ(comms[1].bytes.value, 128 * kMiBytes);
  EXPECT_EQ(comms[2].group, "pp");
  EXPECT_EQ(comms[2].connections, 4);
  EXPECT_EQ(comms[2].bytes.value, 32 * kMiBytes);
}

TEST(RuntimeMemory, TwoStagePipelineHasOnePeerAndSingleGpuHasNoCommunicator) {
  // pp 2: each stage talks to one neighbour: 2 channels x 2 connections x 4 MiB = 16 MiB.
  const auto comms = communicators(layout(1, 2, 1), false, RuntimeConfig{});
  ASSERT_EQ(comms.size(), 1u);
  EXPECT_EQ(comms[0].bytes.value, 16 * kMiBytes);
  // One GPU: no group has two ranks, so NCCL allocates nothing.
  EXPECT_TRUE(communicators(layout(1, 1, 1), false, RuntimeConfig{}).empty());
}

TEST(RuntimeMemory, ExpertAllToAllConnectsEveryPeer) {
  // ep 8 over dp 8 (tp 1): all-to-all to 7 peers: 2 channels x (7 x 2) connections x 4 MiB = 112 MiB. The
  // expert data-parallel group is tp*cp*dp/(etp*ep) = 1 rank: no communicator. The dp ring: 128 MiB.
  ParallelConfig p = layout(1, 1, 8);
  p.ep = 8;
  const auto comms = communicators(p, true, RuntimeConfig{});
  ASSERT_EQ(comms.size(), 2u);
  EXPECT_EQ(comms[1].group, "ep");
  EXPECT_EQ(comms[1].bytes.value, 112 * kMiBytes);
}

TEST(RuntimeMemory, NcclScalesWithBuffsizeAndChannels) {
  // NCCL_BUFFSIZE 8 MiB and 4 channels: the dp ring of 4 ranks is 4 x 2 x 8 MiB = 64 MiB.
  RuntimeConfig c;
  c.nccl_buffsize = Bytes(8 * kMiBytes);
  c.nccl_channels = 4;
  const auto comms = communicators(layout(1, 1, 4), false, c);
  ASSERT_EQ(comms.size(), 1u);
  EXPECT_EQ(comms[0].bytes.value, 64 * kMiBytes);
}

TEST(RuntimeMemory, RoundingAndFragmentationArithmetic) {
  EXPECT_EQ(round_up_waste(Bytes(4 * kMiBytes), 2 * kMiBytes).value, 0u);
  EXPECT_EQ(round_up_waste(Bytes(1), 2 * kMiBytes).value, 2 * kMiBytes - 1);
  // 5% of 1e18 bytes is 5e16 exactly; of 999,999 bytes floor(49,999.95) = 49,999.
  EXPECT_EQ(parts_per_million(Bytes(1000000000000000000ULL), 50000).value, 50000000000000000ULL);
  EXPECT_EQ(parts_per_million(Bytes(999999), 50000).value, 49999u);
  // Near the top of the range nothing wraps: (2^64 - 1) * 1 ppm.
  EXPECT_EQ(parts_per_million(Bytes(~0ULL), 1).value, ~0ULL / 1000000);
}

TEST(RuntimeMemory, CategoriesAddUpAndSwitchOff) {
  // dp 2: one ring, 16 x 2 x 4 MiB = 128 MiB. Buffers of 3 MiB and 2 MiB round to 4 and 2 MiB segments:
  // 1 MiB wasted. Dynamic bytes 100 MiB: a 5% reserve is 5 MiB. Context 512 + workspace 32 MiB.
  const RuntimeMemory r = runtime_memory(layout(1, 1, 2), false, RuntimeConfig{},
                                         {Bytes(3 * kMiBytes), Bytes(2 * kMiBytes)}, Bytes(100 * kMiBytes));
  EXPECT_EQ(r.cuda_context.value, 512 * kMiBytes);
  EXPECT_EQ(r.nccl.value, 128 * kMiBytes);
  EXPECT_EQ(r.workspaces.value, 32 * kMiBytes);
  EXPECT_EQ(r.allocator_rounding.value, 1 * kMiBytes);
  EXPECT_EQ(r.fragmentation.value, 5 * kMiBytes);
  EXPECT_EQ(r.total().value, (512 + 128 + 32 + 1 + 5) * kMiBytes);

  RuntimeConfig each_off;
  each_off.cuda_context = Bytes(0);
  each_off.nccl_buffsize = Bytes(0);
  each_off.cublas_workspace = Bytes(0);
  each_off.allocator_rounding = false;
  each_off.fragmentation_ppm = 0;
  EXPECT_EQ(
      runtime_memory(layout(1, 1, 2), false, each_off, {Bytes(3 * kMiBytes)}, Bytes(100 * kMiBytes)).total().value, 0u);
  RuntimeConfig off;
  off.enabled = false;
  EXPECT_EQ(runtime_memory(layout(1, 1, 2), false, off, {Bytes(3 * kMiBytes)}, Bytes(100 * kMiBytes)).total().value,
            0u);
}

Scenario llama_dp8() {
  Scenario sc;
  sc.model = find_model_preset("llama2-7b")->spec;
  sc.default_seq_length = 4096;
  sc.parallel.dp = 8;
  sc.parallel.zero_stage = 1;
  sc.gpu_memory = Bytes(80 * 1024 * kMiBytes);
  return sc;
}

TEST(RuntimeMemory, EstimateReportsAllocatedReservedAndSafeBudget) {
  // Definitions (docs/runtime-memory.md): allocated = every category but runtime, plus the workspaces;
  // reserved = allocated + rounding + fragmentation; device total (peak) = reserved + context + NCCL;
  // safe budget = GPU memory - runtime; fits <=> peak <= GPU memory <=> tensors <= safe budget.
  const EstimateResult e = estimate(llama_dp8());
  const RankClass& c = e.classes.front();
  const RuntimeMemory& rt = c.runtime;
  EXPECT_EQ(c.bytes[MemoryCategory::runtime], rt.total());
  EXPECT_EQ(c.reserved, c.allocated + rt.allocator_rounding + rt.fragmentation);
  EXPECT_EQ(c.peak, c.reserved + rt.cuda_context + rt.nccl);
  ASSERT_TRUE(c.safe_budget.has_value());
  EXPECT_EQ(c.safe_budget->value, 80 * 1024 * kMiBytes - rt.total().value);
  EXPECT_EQ(c.peak - rt.total() <= *c.safe_budget, *e.fits);
  // dp 8 ring (128 MiB) is the only communicator; the fragmentation reserve is 5% of activations +
  // temporaries (floor).
  EXPECT_EQ(rt.nccl.value, 128 * kMiBytes);
  const std::uint64_t dynamic = c.bytes[MemoryCategory::activations].value + c.bytes[MemoryCategory::temporaries].value;
  EXPECT_EQ(rt.fragmentation.value, dynamic / 20);
}

TEST(RuntimeMemory, SimulateHoldsTheEstimatedRuntimeFromStepStart) {
  const Scenario sc = llama_dp8();
  const SimulationResult r = simulate(sc, false);
  const Bytes runtime = r.estimate.classes.front().bytes[MemoryCategory::runtime];
  ASSERT_GT(runtime.value, 0u);
  EXPECT_EQ(r.stages.front().inputs.persistent[MemoryCategory::runtime], runtime);
  EXPECT_EQ(r.stages.front().simulation.at_peak[MemoryCategory::runtime], runtime);
  // Switched off, the simulated peak drops by exactly that amount.
  Scenario off = sc;
  off.runtime.enabled = false;
  EXPECT_EQ(simulate(off, false).max_peak + runtime, r.max_peak);
}

}  // namespace
}  // namespace trainmem::sim
