// Data-parallel gradient accumulation (pp = 1): F0 B0 F1 B1 ... (one microbatch alive at a time).
#include "sim/schedule/pipeline_schedule.hpp"

namespace trainmem::sim {

std::vector<ScheduleOp> grad_accum_ops(const ScheduleShape& s) {
  std::vector<ScheduleOp> ops;
  ops.reserve(static_cast<std::size_t>(2 * s.num_microbatches * s.vpp));
  for (std::int32_t m = 0; m < s.num_microbatches; ++m) {
    for (std::int32_t c = 0; c < s.vpp; ++c) ops.push_back({ScheduleOp::Kind::forward, m, c});
    for (std::int32_t c = static_cast<std::int32_t>(s.vpp) - 1; c >= 0; --c)
      ops.push_back({ScheduleOp::Kind::backward, m, c});
  }
  return ops;
}

}  // namespace trainmem::sim
