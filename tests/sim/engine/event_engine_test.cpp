#include "sim/engine/event_engine.hpp"

#include <gtest/gtest.h>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {

// A stage with `layers` layers split into vpp chunks, 100 bytes saved per layer per microbatch,
// 1000 bytes of persistent params.
StageStepInputs stage(std::int64_t pp, std::int64_t pp_rank, std::int64_t vpp, std::int64_t m, std::int64_t layers,
                      PipelineSchedule schedule) {
  StageStepInputs in;
  in.pp = pp;
  in.pp_rank = pp_rank;
  in.vpp = vpp;
  in.num_microbatches = m;
  in.schedule = schedule;
  for (std::int64_t c = 0; c < vpp; ++c) {
    in.chunk_layers.push_back(layers / vpp);
    in.chunk_first_layer.push_back((c * pp + pp_rank) * (layers / vpp));
  }
  in.layer_activation.assign(static_cast<std::size_t>(layers), Bytes(100));
  in.recompute_transient.assign(static_cast<std::size_t>(layers), Bytes(0));
  in.persistent[MemoryCategory::params] = Bytes(1000);
  return in;
}

TEST(EventEngine, FirstStageOf1F1BPeaksWithPpMicrobatchesAlive) {
  // Stage 0 of 2, 4 microbatches, 2 layers, embedding output 10 B per microbatch.
  // Order F0 F1 B0 ...: after F1 two microbatches are alive: 1000 + 2 * (10 + 2 * 100) = 1420 bytes,
  // first reached by the second layer's allocation of microbatch 1 (global layer 1).
  StageStepInputs in = stage(2, 0, 1, 4, 2, PipelineSchedule::one_f_one_b);
  in.embedding_activation = Bytes(10);
  const StageSimulation s = simulate_stage(in, true);
  EXPECT_EQ(s.peak.value, 1420u);
  EXPECT_EQ(s.max_live_microbatches, 2);
  EXPECT_EQ(s.at_peak[MemoryCategory::activations].value, 420u);
  EXPECT_EQ(describe(s.peak_event, 0), "forward, microbatch 1, layer 1 (chunk 0), stage 0: saved activations");
  // Every allocation is freed by the end of the step: only the persistent 1000 bytes remain.
  EXPECT_EQ(s.timeline.back().bytes.total().value, 1000u);
}

TEST(EventEngine, LastStagePeaksOnLogitsWithOneMicrobatch) {
  // Stage 1 of 2 (last): F0 B0 F1 B1 ...: one microbatch alive, and its logits + loss (50 B) are kept
  // from the end of its forward to the start of its backward: 1000 + 2 * 100 + 50 = 1250 bytes.
  // The first stage peaks on activations of pp microbatches, the last on one microbatch plus logits.
  StageStepInputs in = stage(2, 1, 1, 4, 2, PipelineSchedule::one_f_one_b);
  in.output_activation = Bytes(50);
  const StageSimulation s = simulate_stage(in, false);
  EXPECT_EQ(s.peak.value, 1250u);
  EXPECT_EQ(s.max_live_microbatches, 1);
  EXPECT_EQ(describe(s.peak_event, 1), "forward, microbatch 0 (chunk 0), stage 1: final norm, logits and loss");
}

TEST(EventEngine, GpipeHoldsEveryMicrobatch) {
  // GPipe: all 4 forwards before any backward: 1000 + 4 * 2 * 100 = 1800.
  const StageSimulation s = simulate_stage(stage(2, 0, 1, 4, 2, PipelineSchedule::gpipe), false);
  EXPECT_EQ(s.peak.value, 1800u);
  EXPECT_EQ(s.max_live_microbatches, 4);
}

TEST(EventEngine, InterleavingFactorMatchesClosedForm) {
  // Korthikanti et al. 2022 / Megatron: the first stage holds pp microbatches of L/pp layers times
  // 1 + (pp - 1) / (pp * vpp). pp 4, vpp 2, L 32 (8 per stage, 4 per chunk), 8 microbatches:
  // 4 * 8 * (1 + 3/8) = 44 layers' activations = 4400 bytes above the 1000 persistent.
  const StageSimulation s = simulate_stage(stage(4, 0, 2, 8, 8, PipelineSchedule::interleaved_one_f_one_b), false);
  EXPECT_EQ(s.peak.value, 1000u + 44 * 100);
  // Without interleaving the same stage holds pp = 4 microbatches of 8 layers: 32 layers.
  EXPECT_EQ(simulate_stage(stage(4, 0, 1, 8, 8, PipelineSchedule::one_f_one_b), false).peak.value, 1000u + 32 * 100);
}

TEST(EventEngine, FullRecomputeTransientAndOptimizerScratch) {
  // pp 1, 2 microbatches, 2 layers that keep 20 B (their inputs) and rematerialise 100 B in backward.
  // Peak in backward of microbatch 0, layer 1: 1000 + 2 * 20 + 100 = 1140. The optimizer scratch of
  // 150 B comes after every activation is freed: 1000 + 150 = 1150 is the step's peak.
  StageStepInputs in = stage(1, 0, 1, 2, 2, PipelineSchedule::grad_accum);
  in.layer_activation.assign(2, Bytes(20));
  in.recompute_transient.assign(2, Bytes(100));
  EXPECT_EQ(simulate_stage(in, false).peak.value, 1140u);
  in.optimizer_transient = Bytes(150);
  const StageSimulation s = simulate_stage(in, false);
  EXPECT_EQ(s.peak.value, 1150u);
  EXPECT_EQ(describe(s.peak_event, 0), "optimizer step, stage 0: optimizer step scratch");
}

TEST(EventEngine, RejectsMismatchedInputs) {
  StageStepInputs in = stage(1, 0, 1, 2, 2, PipelineSchedule::grad_accum);
  in.layer_activation.pop_back();
  EXPECT_THROW(simulate_stage(in, false), Error);
}

}  // namespace
}  // namespace trainmem::sim
