#include "sim/inflight_microbatches.hpp"

#include <algorithm>

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
  // forward_backward_pipelining_with_interleaving (microbatch groups of pp per model chunk).
  const std::int64_t total = m * vpp;
  std::int64_t warmup = 0;
  if (m == pp) {
    warmup = total;  // Megatron: all_warmup_microbatches when num_microbatches == pipeline size
  } else {
    warmup = std::min((pp - pp_rank - 1) * 2 + (vpp - 1) * pp, total);
  }
  out.chunk_forwards = warmup + (total - warmup > 0 ? 1 : 0);
  for (std::int64_t k = 0; k < out.chunk_forwards; ++k) ++out.per_chunk[static_cast<std::size_t>((k / pp) % vpp)];
  return out;
}

}  // namespace trainmem::sim
