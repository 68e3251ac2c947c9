// The event engine without a timeline replays steady_state_microbatches() of the schedule (sim/schedule/
// steady_state.hpp); with one it walks every microbatch. Both must give the same peak, breakdown at the peak, peak
// event (microbatch labels included), category maxima and live microbatches, for every schedule shape: a sweep of
// pp <= 16 (1F1B), pp <= 8 with vpp 2-4 (interleaved) and grad-accum, every stage, m past the bound, with every
// kind of stage input switched on (uneven layer sizes, embedding and logits, p2p sends, lazy gradients, ZeRO-3
// gathers, recompute and optimizer transients).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "sim/engine/event_engine.hpp"
#include "sim/schedule/steady_state.hpp"

namespace trainmem::sim {
namespace {

StageStepInputs rich_stage(PipelineSchedule schedule, std::int64_t pp, std::int64_t vpp, std::int64_t rank,
                           std::int64_t m, bool zero3) {
  StageStepInputs in;
  in.pp = pp, in.pp_rank = rank, in.vpp = vpp, in.num_microbatches = m, in.schedule = schedule;
  std::int64_t layers = 0;
  for (std::int64_t c = 0; c < vpp; ++c) {
    const std::int64_t n = 1 + (c + rank) % 2;  // chunks of 1 and 2 layers
    in.chunk_first_layer.push_back(c * 100 + rank * 2);
    in.chunk_layers.push_back(n);
    layers += n;
  }
  for (std::int64_t l = 0; l < layers; ++l) {
    in.layer_activation.emplace_back(100 + 7 * static_cast<std::uint64_t>(l));
    in.recompute_transient.emplace_back(l % 2 == 0 ? 40 : 0);
    in.layer_grads.emplace_back(30 + static_cast<std::uint64_t>(l));
    if (zero3) {
      in.layer_gather.emplace_back(25);
      in.layer_gather_grads.emplace_back(15);
    }
  }
  in.persistent[MemoryCategory::params] = Bytes(1000);
  in.late_grads = Bytes(55);
  in.backward_transient = Bytes(20);
  in.attention_transient = Bytes(9);
  in.embedding_activation = Bytes(13);
  in.output_activation = Bytes(170);
  in.output_transient = Bytes(60);
  in.p2p_send_buffer = Bytes(11);
  in.loss_grad_transient = Bytes(45);
  in.optimizer_transient = Bytes(5);
  in.param_gather_transient = Bytes(3);
  return in;
}

void expect_same_replay(const StageStepInputs& in) {
  const StageSimulation whole = simulate_stage(in, true);
  const StageSimulation bounded = simulate_stage(in, false);
  const std::string at = "pp " + std::to_string(in.pp) + " vpp " + std::to_string(in.vpp) + " rank " +
                         std::to_string(in.pp_rank) + " m " + std::to_string(in.num_microbatches);
  EXPECT_EQ(bounded.peak, whole.peak) << at;
  EXPECT_TRUE(bounded.at_peak == whole.at_peak) << at;
  EXPECT_TRUE(bounded.category_max == whole.category_max) << at;
  EXPECT_EQ(bounded.max_live_microbatches, whole.max_live_microbatches) << at;
  EXPECT_EQ(describe(bounded.peak_event, in.pp_rank), describe(whole.peak_event, in.pp_rank)) << at;
  // The whole walk's peak, recomputed from its timeline: the largest total after any event.
  Bytes largest(0);
  for (const TimelineSample& t : whole.timeline) largest = std::max(largest, t.bytes.total());
  EXPECT_EQ(whole.peak, largest) << at;
}

TEST(SteadyStateReplay, OneFOneBEveryStage) {
  for (std::int64_t pp = 2; pp <= 16; ++pp)
    for (std::int64_t rank = 0; rank < pp; ++rank)
      for (std::int64_t m : {pp, 4 * pp, 4 * pp + 1, 5 * pp + 3, 9 * pp})
        expect_same_replay(rich_stage(PipelineSchedule::one_f_one_b, pp, 1, rank, m, rank % 2 == 1));
}

TEST(SteadyStateReplay, InterleavedEveryStage) {
  for (std::int64_t pp = 2; pp <= 8; ++pp)
    for (std::int64_t vpp = 2; vpp <= 4; ++vpp)
      for (std::int64_t rank = 0; rank < pp; ++rank)
        for (std::int64_t g : {1, 4, 5, 6, 4 * static_cast<int>(vpp) + 2})
          expect_same_replay(
              rich_stage(PipelineSchedule::interleaved_one_f_one_b, pp, vpp, rank, g * pp, (rank + vpp) % 2 == 0));
}

TEST(SteadyStateReplay, GradAccum) {
  for (std::int64_t vpp = 1; vpp <= 3; ++vpp)
    for (std::int64_t m : {1, 4, 5, 9, 1000}) {
      expect_same_replay(rich_stage(PipelineSchedule::grad_accum, 1, vpp, 0, m, false));
      expect_same_replay(rich_stage(PipelineSchedule::grad_accum, 1, vpp, 0, m, true));
    }
}

TEST(SteadyStateReplay, HugeMicrobatchCountsWalkTheBound) {
  // 2^10 microbatches per stage (256 and 128 bound lengths) against the whole walk; then 2^16 and 2^24 (the most
  // schedule_ops accepts), whose bounded replays must agree.
  expect_same_replay(rich_stage(PipelineSchedule::interleaved_one_f_one_b, 4, 2, 0, 4 << 10, false));
  expect_same_replay(rich_stage(PipelineSchedule::one_f_one_b, 8, 1, 7, 8 << 10, true));
  const StageSimulation a = simulate_stage(rich_stage(PipelineSchedule::one_f_one_b, 8, 1, 3, 1 << 16, false), false);
  const StageSimulation b = simulate_stage(rich_stage(PipelineSchedule::one_f_one_b, 8, 1, 3, 1 << 24, false), false);
  EXPECT_EQ(a.peak, b.peak);
  EXPECT_TRUE(a.at_peak == b.at_peak);
  EXPECT_EQ(a.max_live_microbatches, 5);  // min(pp - rank, m) = 8 - 3
}

}  // namespace
}  // namespace trainmem::sim
