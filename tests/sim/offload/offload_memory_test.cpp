// ZeRO-Offload / ZeRO-Infinity / checkpoint offload: which bytes leave the GPU and where they go. Expected
// values are derived in the comments from the parameter counts and DeepSpeed's buffers (docs/offload.md).
#include "sim/offload/offload_memory.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"
#include "sim/accounting/deepspeed_estimator.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/engine/simulate.hpp"

namespace trainmem::sim {
namespace {

// Llama-2-7B: 6,738,415,616 parameters, untied 32000 x 4096 embedding and LM head; dp 8 shards are
// 6,738,415,616 / 8 = 842,301,952 elements exactly.
constexpr std::uint64_t kP = 6'738'415'616ULL;
constexpr std::uint64_t kShard = kP / 8;
constexpr std::uint64_t kEmbedding = 32000ULL * 4096ULL;  // the largest tensor: 131,072,000 elements

Scenario llama(int stage, const char* recipe) {
  Scenario sc;
  sc.model = find_model_preset("llama2-7b")->spec;
  sc.default_seq_length = 4096;
  sc.parallel.dp = 8;
  sc.parallel.zero_stage = stage;
  sc.training.recipe = recipe;
  return sc;
}

std::uint64_t gpu_model_states(const RankClass& c) {
  return c.bytes[MemoryCategory::params].value + c.bytes[MemoryCategory::grads].value +
         c.bytes[MemoryCategory::master_params].value + c.bytes[MemoryCategory::optimizer_states].value;
}

TEST(OffloadMemory, RefusesWhatDeepSpeedRefuses) {
  OffloadConfig param_cpu;
  param_cpu.param = OffloadDevice::cpu;
  try {
    check_offload(param_cpu, 2, false);
    FAIL() << "offload_param at stage 2 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("offload_param"), std::string::npos) << e.what();
  }
  OffloadConfig opt_cpu;
  opt_cpu.optimizer = OffloadDevice::cpu;
  EXPECT_THROW(check_offload(opt_cpu, 0, false), ConfigError);
  EXPECT_NO_THROW(check_offload(opt_cpu, 1, false));
  OffloadConfig opt_nvme;
  opt_nvme.optimizer = OffloadDevice::nvme;
  EXPECT_THROW(check_offload(opt_nvme, 2, false), ConfigError);
  EXPECT_NO_THROW(check_offload(opt_nvme, 3, false));
  OffloadConfig ckpt;
  ckpt.activation_checkpoints = true;
  EXPECT_THROW(check_offload(ckpt, 0, false), ConfigError);
  EXPECT_NO_THROW(check_offload(ckpt, 0, true));
}

TEST(OffloadMemory, ZeroOffloadStage2KeepsOnlyTheBf16ParamsOnTheGpu) {
  // ZeRO-2 + offload_optimizer cpu, mixed-16: the GPU keeps the whole bf16 parameters (2P, as DeepSpeed's
  // own estimator says: gpu_mem = 2 * total_params); the gradient partition is streamed to the host and
  // never kept (stage_1_and_2.py under cpu_offload). Host, per rank: fp32 master 4 + Adam m, v 8 + the fp32
  // gradient partition the CPU optimizer reads 4 = 16 bytes x shard, plus the host staging buffer of the
  // largest parameter (the embedding) in bf16. One GPU-side staging buffer of the same size.
  Scenario sc = llama(2, "mixed-16");
  sc.offload.optimizer = OffloadDevice::cpu;
  sc.runtime.enabled = false;
  const EstimateResult e = estimate(sc);
  const RankClass& c = e.classes.front();
  EXPECT_EQ(gpu_model_states(c), 2 * kP);
  EXPECT_EQ(c.offload.host.value, 16 * kShard + 2 * kEmbedding);
  EXPECT_EQ(c.offload.host_pinned.value, 0u);  // pin_memory defaults to false, as in DeepSpeed
  EXPECT_EQ(c.offload.nvme.value, 0u);
  EXPECT_EQ(c.offload.gpu_staging.value, 2 * kEmbedding);
  EXPECT_EQ(c.offload.gpu_removed[MemoryCategory::grads].value, 2 * kShard);
}

TEST(OffloadMemory, Zero2OffloadGpuModelStatesEqualDeepSpeedsOwnEstimator) {
  // DeepSpeed's estimate_zero2_model_states_mem_needs with cpu_offload gives gpu_mem = 2 * total_params
  // (reproduced bit for bit in sim/accounting/deepspeed_estimator.cpp): the bf16 parameters are all that stays.
  Scenario sc = llama(2, "mixed-16");
  sc.offload.optimizer = OffloadDevice::cpu;
  const EstimateResult e = estimate(sc);
  DeepSpeedEstimatorInput ds;
  ds.total_params = kP;
  ds.gpus_per_node = 8;
  ds.zero_stage = 2;
  ds.offload_optimizer = true;
  EXPECT_EQ(gpu_model_states(e.classes.front()), deepspeed_estimate(ds).gpu_bytes);
}

TEST(OffloadMemory, GradientAccumulationAddsTheHostAccumulator) {
  // With 4 microbatches per step, stage_1_and_2.py keeps the partition's gradients in host memory between
  // micro-steps (accumulated_grads_in_cpu, model dtype): + 2 bytes x shard.
  Scenario sc = llama(2, "mixed-16");
  sc.offload.optimizer = OffloadDevice::cpu;
  sc.offload.pin_memory = true;
  sc.training.global_batch_size = 32;
  const EstimateResult e = estimate(sc);
  const RankClass& c = e.classes.front();
  EXPECT_EQ(c.offload.host.value, 16 * kShard + 2 * kEmbedding + 2 * kShard);
  EXPECT_EQ(c.offload.host_pinned, c.offload.host);
}

TEST(OffloadMemory, ZeroInfinityCpuMovesEveryModelState) {
  // ZeRO-3 + offload_optimizer cpu + offload_param cpu, mixed-20: nothing of the model states stays on the
  // GPU; the host holds bf16 params 2 + bf16 gradient partition buffer 2 (stage3.py grad_partitions_flat_buffer)
  // + fp32 gradients 4 + master 4 + m, v 8 = 20 bytes x shard. Per node of 8 ranks: 20P.
  Scenario sc = llama(3, "mixed-20");
  sc.offload.optimizer = OffloadDevice::cpu;
  sc.offload.param = OffloadDevice::cpu;
  const EstimateResult e = estimate(sc);
  const RankClass& c = e.classes.front();
  // Only ZeRO-3's persistent small tensors stay whole on the GPU (stage3_param_persistence_threshold 1e5): the
  // two RMSNorm weights of each layer, 2 x 4096 elements, bf16, 32 layers = 2 B * 8192 * 32 = 524,288 B.
  EXPECT_EQ(gpu_model_states(c), 2u * 8192u * 32u);
  EXPECT_EQ(c.offload.host.value, 20 * kShard);
  EXPECT_EQ(e.per_node.host.value, 20 * kP);
  EXPECT_EQ(e.per_node.gpu.value, 8 * c.peak.value);
}

TEST(OffloadMemory, ZeroInfinityNvmeSwapsStatesAndKeepsSwapBuffersPinned) {
  // NVMe: params 2 + fp32 gradients 4 + master 4 + m, v 8 = 18 bytes x shard on NVMe. The host keeps the bf16
  // gradient partition (2 x shard, pageable), the optimizer swap buffers (buffer_count 4 x one sub-group of
  // min(sub_group_size 1e9, shard) fp32 elements) and the parameter swap buffers (buffer_count 5 x
  // buffer_size 1e8 bf16 elements), both pinned for asynchronous I/O.
  Scenario sc = llama(3, "mixed-20");
  sc.offload.optimizer = OffloadDevice::nvme;
  sc.offload.param = OffloadDevice::nvme;
  const EstimateResult e = estimate(sc);
  const RankClass& c = e.classes.front();
  const std::uint64_t swap = 4 * kShard * 4 + 5 * 100'000'000ULL * 2;
  EXPECT_EQ(c.offload.nvme.value, 18 * kShard);
  EXPECT_EQ(c.offload.host_pinned.value, swap);
  EXPECT_EQ(c.offload.host.value, 2 * kShard + swap);
}

TEST(OffloadMemory, CheckpointOffloadMovesTheLayerInputsToTheHost) {
  // Full recompute (uniform, one layer per group), one microbatch, dp 8: 32 checkpoints of s*b*h bf16 =
  // 4096 * 4096 * 2 = 33,554,432 bytes each leave the GPU for host memory.
  Scenario sc = llama(1, "mixed-16");
  sc.training.recompute_granularity = RecomputeGranularity::full;
  Scenario off = sc;
  sc.offload.activation_checkpoints = true;
  const std::uint64_t ckpt = 32ULL * 4096 * 4096 * 2;
  const EstimateResult e_with = estimate(sc), e_without = estimate(off);
  const RankClass& with = e_with.classes.front();
  const RankClass& without = e_without.classes.front();
  EXPECT_EQ(with.offload.host.value, ckpt);
  EXPECT_EQ(without.bytes[MemoryCategory::activations].value - with.bytes[MemoryCategory::activations].value, ckpt);
  // The simulator keeps no checkpoint on the GPU either: its activation maximum still equals the estimate's.
  const SimulationResult r = simulate(sc, false);
  EXPECT_EQ(r.stages.front().simulation.category_max[MemoryCategory::activations],
            r.estimate.classes.front().bytes[MemoryCategory::activations]);
}

TEST(OffloadMemory, SimulateDropsOffloadedStatesAndTheOptimizerStepCast) {
  // ZeRO-1 + offload_optimizer cpu, mixed-20: the fp32 gradient copy lives on the host, so the step has no
  // GPU transient for it; the GPU keeps bf16 params (2P) and the unsharded bf16 gradients (2P, ZeRO-1) plus
  // the GPU staging buffer (2 x the embedding) in `buffers`.
  Scenario sc = llama(1, "mixed-20");
  sc.offload.optimizer = OffloadDevice::cpu;
  const SimulationResult r = simulate(sc, false);
  const StageStepInputs& in = r.stages.front().inputs;
  EXPECT_EQ(in.optimizer_transient.value, 0u);
  EXPECT_EQ(in.persistent[MemoryCategory::params].value, 2 * kP);
  EXPECT_EQ(in.persistent[MemoryCategory::grads].value, 2 * kP);
  EXPECT_EQ(in.persistent[MemoryCategory::master_params].value, 0u);
  EXPECT_EQ(in.persistent[MemoryCategory::optimizer_states].value, 0u);
  EXPECT_EQ(in.persistent[MemoryCategory::buffers].value, 2 * kEmbedding);
}

}  // namespace
}  // namespace trainmem::sim
