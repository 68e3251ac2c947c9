// In-flight microbatches per stage against the schedules' rules worked by hand (Megatron-LM schedules.py
// warm-up counts; Korthikanti et al. 2022 Sec. 4.2.3 for the interleaving factor 1 + (pp-1)/(pp*vpp)).
#include "sim/schedule/inflight_microbatches.hpp"

#include <gtest/gtest.h>

namespace trainmem::sim {
namespace {

using S = PipelineScheduleOption;

TEST(InflightMicrobatches, OneFOneBStageHoldsPpMinusRank) {
  // pp 4, 8 microbatches: stage p warms up with pp - p - 1 forwards, then runs one more before its first
  // backward: 4, 3, 2, 1.
  for (std::int64_t p = 0; p < 4; ++p) {
    const auto in = inflight_microbatches(S::one_f_one_b, 4, 1, p, 8);
    EXPECT_EQ(in.chunk_forwards, 4 - p);
    EXPECT_EQ(in.per_chunk, std::vector<std::int64_t>{4 - p});
  }
}

TEST(InflightMicrobatches, FewerMicrobatchesThanStagesCapsIt) {
  // pp 4, 2 microbatches: stage 0 can only ever hold 2; stage 3 still holds 1.
  EXPECT_EQ(inflight_microbatches(S::one_f_one_b, 4, 1, 0, 2).chunk_forwards, 2);
  EXPECT_EQ(inflight_microbatches(S::one_f_one_b, 4, 1, 2, 2).chunk_forwards, 2);
  EXPECT_EQ(inflight_microbatches(S::one_f_one_b, 4, 1, 3, 2).chunk_forwards, 1);
  // No pipeline: forward then backward of each microbatch, one at a time.
  EXPECT_EQ(inflight_microbatches(S::one_f_one_b, 1, 1, 0, 16).chunk_forwards, 1);
}

TEST(InflightMicrobatches, GpipeHoldsEveryMicrobatch) {
  for (std::int64_t p = 0; p < 4; ++p) EXPECT_EQ(inflight_microbatches(S::gpipe, 4, 1, p, 8).chunk_forwards, 8);
}

TEST(InflightMicrobatches, InterleavedMatchesTheClosedForm) {
  // pp 4, vpp 2, 8 microbatches. Stage 0: warm-up (4-0-1)*2 + (2-1)*4 = 10 chunk forwards, +1 = 11.
  // Each chunk is half the stage's layers, so it holds 11/2 = 5.5 stage-microbatches
  // = pp * (1 + (pp-1)/(pp*vpp)) = 4 * (1 + 3/8) = 5.5 (Korthikanti Sec. 4.2.3).
  const auto s0 = inflight_microbatches(S::one_f_one_b, 4, 2, 0, 8);
  EXPECT_EQ(s0.chunk_forwards, 11);
  // chunk forwards = vpp * pp * (1 + (pp-1)/(pp*vpp)); times pp*vpp = 8 to clear the fraction.
  EXPECT_EQ(s0.chunk_forwards * 8, 2 * 4 * (8 + 3));
  // Forward k runs chunk (k / pp) % vpp: k 0-3 chunk 0, 4-7 chunk 1, 8-10 chunk 0 -> {7, 4} at the first
  // peak. The first backward then frees a chunk-1 forward (backward chunk = vpp - 1 - (k / pp) % vpp) and
  // forward k = 11 adds another chunk 0: 11 alive again, now {8, 3}. The embedding (chunk 0) is counted at
  // that later moment, the one the step replay reaches (tests/sim/engine/simulate_test.cpp).
  EXPECT_EQ(s0.per_chunk, (std::vector<std::int64_t>{8, 3}));
  // Last stage: warm-up (vpp-1)*pp = 4, +1 = 5: chunk 0 x 4 and one forward of chunk 1 (the LM head chunk).
  const auto s3 = inflight_microbatches(S::one_f_one_b, 4, 2, 3, 8);
  EXPECT_EQ(s3.chunk_forwards, 5);
  EXPECT_EQ(s3.per_chunk, (std::vector<std::int64_t>{4, 1}));
  // num_microbatches == pp: Megatron runs every forward as warm-up (all 4 * 2 chunk forwards).
  EXPECT_EQ(inflight_microbatches(S::one_f_one_b, 4, 2, 3, 4).chunk_forwards, 8);
}

TEST(InflightMicrobatches, InterleavedFactorForGpt3Layout) {
  // 175B layout of Korthikanti Table 3: pp 8; with vpp 3 and 24 microbatches stage 0 holds
  // (8-1)*2 + 2*8 + 1 = 31 chunk forwards = 8 * (1 + 7/24) * 3.
  const auto in = inflight_microbatches(S::one_f_one_b, 8, 3, 0, 24);
  EXPECT_EQ(in.chunk_forwards, 31);
  EXPECT_EQ(in.chunk_forwards * 24, 8 * (24 + 7) * 3);
}

}  // namespace
}  // namespace trainmem::sim
