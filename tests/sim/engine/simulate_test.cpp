// The step simulator against the analytic estimate: wherever a closed form exists they must agree
// exactly (DESIGN.md section 5).
#include "sim/engine/simulate.hpp"

#include <gtest/gtest.h>

#include "partition/model_presets.hpp"

namespace trainmem::sim {
namespace {

Scenario gpt3(std::int64_t pp, std::int64_t vpp, std::int64_t gbs, RecomputeGranularity rec) {
  Scenario sc;
  sc.model = find_model_preset("gpt3-175b")->spec;
  sc.default_seq_length = 2048;
  sc.parallel.tp = 8;
  sc.parallel.pp = pp;
  sc.parallel.vpp = vpp;
  sc.parallel.dp = 8;
  sc.parallel.sequence_parallel = true;
  sc.training.recompute_granularity = rec;
  sc.training.global_batch_size = gbs;
  sc.training.recipe = "megatron";
  return sc;
}

// The replay's largest activations total on every stage equals estimate()'s activations for that stage:
// the schedule rule (pp - rank microbatches under 1F1B, the interleaving factor, all m under GPipe) and the
// replay count the same tensors.
void expect_agreement(const Scenario& sc) {
  const SimulationResult r = simulate(sc, false);
  for (const StageReport& s : r.stages) {
    const RankClass& cls = r.estimate.classes[s.estimate_class];
    EXPECT_EQ(s.simulation.category_max[MemoryCategory::activations].value, cls.activations->total.value)
        << "stage " << s.pp_rank;
  }
}

TEST(Simulate, AgreesWithEstimateOn1F1B) { expect_agreement(gpt3(8, 1, 512, RecomputeGranularity::selective)); }
TEST(Simulate, AgreesWithEstimateInterleaved) { expect_agreement(gpt3(8, 3, 512, RecomputeGranularity::none)); }
TEST(Simulate, AgreesWithEstimateWithFullRecompute) {
  Scenario sc = gpt3(4, 1, 64, RecomputeGranularity::full);
  sc.training.recompute_num_layers = 4;
  expect_agreement(sc);
  sc.training.recompute_method = RecomputeMethod::block;
  expect_agreement(sc);
}
TEST(Simulate, AgreesWithEstimateUnderGpipeAndFewMicrobatches) {
  Scenario sc = gpt3(8, 1, 32, RecomputeGranularity::selective);  // 32 / 8 = 4 microbatches < pp
  expect_agreement(sc);
  sc.training.pipeline_schedule = PipelineScheduleOption::gpipe;
  expect_agreement(sc);
}

TEST(Simulate, FirstStagePeaksInFirstBackwardLastStageOnLogits) {
  // GPT-3 175B, tp 8, pp 8, dp 8, SP, selective recompute, global batch 512 (64 microbatches).
  // Stage 0 holds pp = 8 microbatches after its warm-up; the first backward (microbatch 0) then adds the
  // rebuilt attention core of its last layer on top of everything saved: the peak is in that backward.
  const SimulationResult r = simulate(gpt3(8, 1, 512, RecomputeGranularity::selective), false);
  const StageReport& first = r.stages.front();
  EXPECT_EQ(first.simulation.max_live_microbatches, 8);
  EXPECT_EQ(first.simulation.peak_event.phase, StepEvent::Phase::backward);
  EXPECT_EQ(first.simulation.peak_event.microbatch, 0);
  // The last stage holds one microbatch (1F1B) and its fp32 logits: its activations at the peak include
  // the output layer's saved tensors, which the first stage never has.
  const StageReport& last = r.stages.back();
  EXPECT_EQ(last.simulation.max_live_microbatches, 1);
  EXPECT_GE(last.simulation.at_peak[MemoryCategory::activations].value, last.inputs.output_activation.value);
  EXPECT_GT(first.simulation.category_max[MemoryCategory::activations].value,
            last.simulation.category_max[MemoryCategory::activations].value);
}

TEST(Simulate, DeepSpeedFp32GradCopyLivesOnlyInTheOptimizerStep) {
  // llama2-7b, dp 8, ZeRO-1, mixed-20: the fp32 gradient partition (4 bytes x ceil(6,738,415,616 / 8)) is
  // allocated at the optimizer step, after every activation is freed, so the step peak is the model
  // states without it plus max(activations phase, the cast) rather than their sum.
  Scenario sc;
  sc.model = find_model_preset("llama2-7b")->spec;
  sc.default_seq_length = 4096;
  sc.parallel.dp = 8;
  sc.parallel.zero_stage = 1;
  sc.training.recipe = "deepspeed";
  const SimulationResult r = simulate(sc, false);
  const StageReport& s = r.stages.front();
  const std::uint64_t copy = 4ULL * (6'738'415'616ULL / 8);
  EXPECT_EQ(s.inputs.optimizer_transient.value, copy);
  const RankClass& cls = r.estimate.classes.front();
  const std::uint64_t states = cls.model_states.breakdown.total().value;
  // The runtime category (CUDA context, NCCL, ...) is allocated from step start and stays constant.
  const std::uint64_t runtime = cls.bytes[MemoryCategory::runtime].value;
  ASSERT_GT(runtime, 0u);
  const std::uint64_t activations = s.simulation.category_max[MemoryCategory::activations].value;
  ASSERT_GT(activations, 0u);
  // The copy and the activations are never alive together: the peak is below the naive sum ...
  EXPECT_LT(s.simulation.peak.value, states + runtime + activations);
  // ... and at least the full model states (the copy is back during the step).
  EXPECT_GE(s.simulation.peak.value, states + runtime);
  // At the end of the step only the persistent states (without the copy) and the runtime remain.
  EXPECT_EQ(s.inputs.persistent.total().value, states - copy + runtime);
}

TEST(Simulate, Zero3GathersAreSizedByTheDeepSpeedKnobs) {
  // Llama-2-70B, dp 64, ZeRO-3, tp 1. Per layer, the tensors at or above stage3_param_persistence_threshold
  // (1e5 elements) are partitioned: QKV 8192 * (64 + 2*8) * 128 = 83,886,080; out-proj 8192^2 = 67,108,864;
  // gate+up 2 * 8192 * 28672 = 469,762,048; down 234,881,024 -> 855,638,016 elements. The two RMSNorm
  // weights (16,384 < 1e5) stay whole on every rank. While a layer runs, DeepSpeed holds its gathered
  // parameters plus the prefetch bucket (5e7), capped by max_live (1e9): 905,638,016 elements * 2 bytes.
  Scenario sc;
  sc.model = find_model_preset("llama2-70b")->spec;
  sc.default_seq_length = 4096;
  sc.parallel.dp = 64;
  sc.parallel.zero_stage = 3;
  sc.training.recipe = "deepspeed";
  const std::uint64_t partitioned = 855'638'016ULL;
  SimulationResult r = simulate(sc, false);
  const StageReport& s = r.stages.front();
  ASSERT_EQ(s.inputs.layer_gather.size(), 80u);
  EXPECT_EQ(s.inputs.layer_gather.front().value, (partitioned + 50'000'000ULL) * 2);
  EXPECT_EQ(s.inputs.layer_gather_grads.front().value, partitioned * 2);
  // Buffers at most: the ZeRO-3 IPG bucket (reduce_bucket_size 5e8 * 2 bytes) + one layer's gather.
  EXPECT_EQ(s.simulation.category_max[MemoryCategory::buffers].value,
            1'000'000'000ULL + (partitioned + 50'000'000ULL) * 2);
  // The knobs change it: max_live 6e8 caps the gather, a 1e8 bucket shrinks the IPG buffer.
  sc.zero_runtime.stage3_max_live_parameters = 600'000'000ULL;
  sc.zero_runtime.reduce_bucket_size = 100'000'000ULL;
  r = simulate(sc, false);
  EXPECT_EQ(r.stages.front().simulation.category_max[MemoryCategory::buffers].value, 200'000'000ULL + 1'200'000'000ULL);
  // Persistent (unpartitioned) norms: 80 layers * (16,384 - ceil(16,384 / 64)) * 2 bytes more params than
  // the fully sharded model states.
  const RankClass& cls = r.estimate.classes.front();
  EXPECT_EQ(r.stages.front().inputs.persistent[MemoryCategory::params].value,
            cls.model_states.breakdown[MemoryCategory::params].value + 80ULL * (16'384 - 256) * 2);
}

}  // namespace
}  // namespace trainmem::sim
