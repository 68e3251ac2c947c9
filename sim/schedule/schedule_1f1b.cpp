// 1F1B / PipeDream-Flush (Narayanan et al. 2021; Megatron-LM
// forward_backward_pipelining_without_interleaving): stage p runs min(pp - p - 1, m) warm-up forwards,
// then alternates one forward and one backward, then drains the remaining backwards. At most
// min(pp - p, m) microbatches are alive on stage p: pp on the first stage.
#include <algorithm>
#include <string>

#include "partition/error.hpp"
#include "sim/schedule/pipeline_schedule.hpp"

namespace trainmem::sim {

std::vector<ScheduleOp> one_f_one_b_ops(const ScheduleShape& s) {
  if (s.vpp != 1)
    throw ConfigError("virtual_pipeline_model_parallel_size", std::to_string(s.vpp),
                      "1F1B runs one model chunk per stage");
  const auto m = static_cast<std::int32_t>(s.num_microbatches);
  const auto warmup = static_cast<std::int32_t>(std::min<std::int64_t>(s.pp - s.pp_rank - 1, m));
  std::vector<ScheduleOp> ops;
  ops.reserve(2 * static_cast<std::size_t>(m));
  for (std::int32_t i = 0; i < warmup; ++i) ops.push_back({ScheduleOp::Kind::forward, i, 0});
  for (std::int32_t i = 0; i < m - warmup; ++i) {
    ops.push_back({ScheduleOp::Kind::forward, warmup + i, 0});
    ops.push_back({ScheduleOp::Kind::backward, i, 0});
  }
  for (std::int32_t i = m - warmup; i < m; ++i) ops.push_back({ScheduleOp::Kind::backward, i, 0});
  return ops;
}

}  // namespace trainmem::sim
