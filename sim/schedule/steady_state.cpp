#include "sim/schedule/steady_state.hpp"

namespace trainmem::sim {

std::int64_t steady_state_microbatches(PipelineSchedule schedule, std::int64_t pp, std::int64_t m) {
  if (schedule == PipelineSchedule::gpipe || pp < 1) return m;
  const std::int64_t bound = 4 * pp;
  if (m <= bound) return m;
  if (schedule == PipelineSchedule::interleaved_one_f_one_b && m % pp != 0) return m;
  return bound;
}

}  // namespace trainmem::sim
