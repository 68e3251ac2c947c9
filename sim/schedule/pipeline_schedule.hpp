// Pipeline schedules: the order of forward and backward passes of (microbatch, model chunk) on one
// pipeline stage. GPipe (Huang et al. 2019), 1F1B (PipeDream-Flush, Narayanan et al. 2021) and
// interleaved 1F1B with vpp model chunks per stage (Megatron-LM schedules.py warm-up rule); pp = 1 is
// data-parallel gradient accumulation (forward then backward of each microbatch).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace trainmem::sim {

enum class PipelineSchedule { grad_accum, gpipe, one_f_one_b, interleaved_one_f_one_b };

struct ScheduleOp {
  enum class Kind : std::uint8_t { forward, backward };
  Kind kind;
  std::int32_t microbatch;
  std::int32_t chunk;  // model chunk (vp_stage) on this stage, 0 without interleaving
};

struct ScheduleShape {
  std::int64_t pp = 1;
  std::int64_t pp_rank = 0;
  std::int64_t vpp = 1;
  std::int64_t num_microbatches = 1;
};

struct ScheduleInfo {
  PipelineSchedule schedule;
  std::string_view name;
  std::string_view summary;
};

std::span<const ScheduleInfo> pipeline_schedules();
const ScheduleInfo* find_pipeline_schedule(std::string_view name);
// The schedule Megatron would run: grad_accum for pp 1, interleaved for vpp > 1, else 1F1B.
PipelineSchedule default_schedule(std::int64_t pp, std::int64_t vpp);

// The op sequence of one stage. Throws ConfigError for shapes the schedule cannot run.
std::vector<ScheduleOp> schedule_ops(PipelineSchedule schedule, const ScheduleShape& shape);

// One file per schedule (schedule_*.cpp).
std::vector<ScheduleOp> grad_accum_ops(const ScheduleShape& shape);
std::vector<ScheduleOp> gpipe_ops(const ScheduleShape& shape);
std::vector<ScheduleOp> one_f_one_b_ops(const ScheduleShape& shape);
std::vector<ScheduleOp> interleaved_ops(const ScheduleShape& shape);

}  // namespace trainmem::sim
