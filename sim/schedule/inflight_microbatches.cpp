#include "sim/schedule/inflight_microbatches.hpp"

#include <algorithm>

#include "sim/schedule/pipeline_schedule.hpp"
#include "sim/schedule/steady_state.hpp"

namespace trainmem::sim {

InflightMicrobatches inflight_microbatches(PipelineScheduleOption schedule, std::int64_t pp, std::int64_t vpp,
                                           std::int64_t pp_rank, std::int64_t m) {
  InflightMicrobatches out;
  out.vpp = vpp;
  out.per_chunk.assign(static_cast<std::size_t>(vpp), 0);
  if (schedule == PipelineScheduleOption::gpipe) {
    // All forwards, then all backwards (vpp is 1: resolve_scenario refuses gpipe with virtual stages).
    out.chunk_forwards = m * vpp;
    for (auto& c : out.per_chunk) c = m;
    return out;
  }
  if (vpp == 1) {
    // forward_backward_pipelining_without_interleaving: num_warmup = min(pp - rank - 1, m); if microbatches
    // remain, one more forward runs before the first backward.
    const std::int64_t warmup = std::min(pp - pp_rank - 1, m);
    out.chunk_forwards = warmup + (m - warmup > 0 ? 1 : 0);
    out.per_chunk[0] = out.chunk_forwards;
    return out;
  }
  // forward_backward_pipelining_with_interleaving. The chunk forwards alive peak at warm-up + 1, but which
  // chunks they belong to rotates through the steady state; the embedding (chunk 0, first stage) and the
  // logits (last chunk, last stage) are counted at the moment with the most chunk forwards alive and, among
  // those, the most of that stage's extra-carrying chunk. Walk the schedule's op order to find it, over the
  // steady-state bound of microbatches (the same states in the same order: sim/schedule/steady_state.hpp).
  const std::int64_t walked = steady_state_microbatches(PipelineSchedule::interleaved_one_f_one_b, pp, m);
  const std::vector<ScheduleOp> ops = interleaved_ops(ScheduleShape{pp, pp_rank, vpp, walked});
  const std::size_t extra_chunk = pp_rank == 0 ? 0 : static_cast<std::size_t>(vpp - 1);
  const bool has_extra = pp_rank == 0 || pp_rank == pp - 1;
  std::vector<std::int64_t> alive(static_cast<std::size_t>(vpp), 0);
  std::int64_t alive_total = 0;
  for (const ScheduleOp& op : ops) {
    const int d = op.kind == ScheduleOp::Kind::forward ? 1 : -1;
    alive[static_cast<std::size_t>(op.chunk)] += d;
    alive_total += d;
    if (d < 0) continue;
    const std::int64_t extra = has_extra ? alive[extra_chunk] : 0;
    const std::int64_t best_extra = has_extra ? out.per_chunk[extra_chunk] : 0;
    if (alive_total > out.chunk_forwards || (alive_total == out.chunk_forwards && extra > best_extra)) {
      out.chunk_forwards = alive_total;
      out.per_chunk = alive;
    }
  }
  return out;
}

}  // namespace trainmem::sim
