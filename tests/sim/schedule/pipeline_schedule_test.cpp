#include "sim/schedule/pipeline_schedule.hpp"

#include <gtest/gtest.h>

#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {

std::string trace(const std::vector<ScheduleOp>& ops) {
  std::string s;
  for (const auto& op : ops) {
    s += op.kind == ScheduleOp::Kind::forward ? "F" : "B";
    s += std::to_string(op.microbatch);
    if (op.chunk != 0) s += "c" + std::to_string(op.chunk);
    s += " ";
  }
  return s;
}

TEST(PipelineSchedule, OneFOneBTwoStagesFourMicrobatches) {
  // Stage 0 of 2: warm-up min(2 - 0 - 1, 4) = 1 forward, then F/B pairs, then the last backward.
  EXPECT_EQ(trace(schedule_ops(PipelineSchedule::one_f_one_b, {2, 0, 1, 4})), "F0 F1 B0 F2 B1 F3 B2 B3 ");
  // Stage 1 (last): no warm-up.
  EXPECT_EQ(trace(schedule_ops(PipelineSchedule::one_f_one_b, {2, 1, 1, 4})), "F0 B0 F1 B1 F2 B2 F3 B3 ");
  // Fewer microbatches than the warm-up: stage 0 of 4 with 2 microbatches runs both forwards first.
  EXPECT_EQ(trace(schedule_ops(PipelineSchedule::one_f_one_b, {4, 0, 1, 2})), "F0 F1 B0 B1 ");
}

TEST(PipelineSchedule, GpipeAndGradAccum) {
  EXPECT_EQ(trace(schedule_ops(PipelineSchedule::gpipe, {2, 0, 1, 3})), "F0 F1 F2 B0 B1 B2 ");
  EXPECT_EQ(trace(schedule_ops(PipelineSchedule::grad_accum, {1, 0, 1, 3})), "F0 B0 F1 B1 F2 B2 ");
}

TEST(PipelineSchedule, InterleavedFollowsMegatronChunkOrder) {
  // pp 2, vpp 2, 4 microbatches, stage 0: warm-up (2-0-1)*2 + (2-1)*2 = 4 virtual forwards.
  // Forward k: microbatch (k / 4) * 2 + k % 2, chunk (k / 2) % 2; backward chunk = 1 - (k / 2) % 2.
  EXPECT_EQ(trace(schedule_ops(PipelineSchedule::interleaved_one_f_one_b, {2, 0, 2, 4})),
            "F0 F1 F0c1 F1c1 F2 B0c1 F3 B1c1 F2c1 B0 F3c1 B1 B2c1 B3c1 B2 B3 ");
  EXPECT_THROW(schedule_ops(PipelineSchedule::interleaved_one_f_one_b, {2, 0, 2, 3}), ConfigError);
}

TEST(PipelineSchedule, NameTable) {
  ASSERT_NE(find_pipeline_schedule("1f1b"), nullptr);
  EXPECT_EQ(find_pipeline_schedule("interleaved-1f1b")->schedule, PipelineSchedule::interleaved_one_f_one_b);
  EXPECT_EQ(find_pipeline_schedule("zb-v"), nullptr);
  EXPECT_EQ(default_schedule(1, 1), PipelineSchedule::grad_accum);
  EXPECT_EQ(default_schedule(4, 1), PipelineSchedule::one_f_one_b);
  EXPECT_EQ(default_schedule(4, 2), PipelineSchedule::interleaved_one_f_one_b);
}

}  // namespace
}  // namespace trainmem::sim
