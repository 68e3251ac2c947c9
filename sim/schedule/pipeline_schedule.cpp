#include "sim/schedule/pipeline_schedule.hpp"

#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {
constexpr ScheduleInfo kSchedules[] = {
    {PipelineSchedule::grad_accum, "grad-accum", "pp 1: forward and backward of each microbatch in turn"},
    {PipelineSchedule::gpipe, "gpipe", "all forwards, then all backwards: every microbatch alive at once"},
    {PipelineSchedule::one_f_one_b, "1f1b", "warm-up of pp - pp_rank - 1 forwards, then one forward one backward"},
    {PipelineSchedule::interleaved_one_f_one_b, "interleaved-1f1b",
     "vpp model chunks per stage, Megatron's interleaved warm-up and chunk order"},
};
}  // namespace

std::span<const ScheduleInfo> pipeline_schedules() { return kSchedules; }

const ScheduleInfo* find_pipeline_schedule(std::string_view name) {
  for (const auto& s : kSchedules)
    if (s.name == name) return &s;
  return nullptr;
}

PipelineSchedule default_schedule(std::int64_t pp, std::int64_t vpp) {
  if (pp == 1) return PipelineSchedule::grad_accum;
  return vpp > 1 ? PipelineSchedule::interleaved_one_f_one_b : PipelineSchedule::one_f_one_b;
}

std::vector<ScheduleOp> schedule_ops(PipelineSchedule schedule, const ScheduleShape& shape) {
  if (shape.num_microbatches < 1 || shape.num_microbatches > (1 << 24))
    throw ConfigError("num_microbatches", std::to_string(shape.num_microbatches), "must be between 1 and 2^24");
  switch (schedule) {
    case PipelineSchedule::grad_accum: return grad_accum_ops(shape);
    case PipelineSchedule::gpipe: return gpipe_ops(shape);
    case PipelineSchedule::one_f_one_b: return one_f_one_b_ops(shape);
    case PipelineSchedule::interleaved_one_f_one_b: return interleaved_ops(shape);
  }
  return {};
}

}  // namespace trainmem::sim
