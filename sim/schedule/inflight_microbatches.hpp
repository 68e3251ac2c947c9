// In-flight microbatches: how many microbatches' activations (counted in model-chunk forwards) a pipeline
// stage holds at its peak, from the schedule's warm-up rule (Megatron-LM core/pipeline_parallel/schedules.py)
// for GPipe, 1F1B and interleaved 1F1B; Korthikanti et al. 2022 Sec. 4.2.3 (stage 0 holds pp, x (1 + (pp-1)/(pp*vpp))).
#pragma once

#include <cstdint>
#include <vector>

#include "sim/accounting/scenario.hpp"

namespace trainmem::sim {

struct InflightMicrobatches {
  // Model-chunk forwards whose activations are alive at the peak (a model chunk is 1/vpp of the stage's
  // layers; with vpp = 1 this is the number of microbatches).
  std::int64_t chunk_forwards = 0;
  std::int64_t vpp = 1;
  // Of those, how many belong to each model chunk (index = vp_stage); sums to chunk_forwards.
  std::vector<std::int64_t> per_chunk;
};

// `schedule` 1F1B means interleaved 1F1B when vpp > 1. Stage `pp_rank` of `pp`, `num_microbatches` per step.
//   GPipe:           every microbatch: m.
//   1F1B:            warm-up min(pp - rank - 1, m) forwards plus one steady-state forward: min(pp - rank, m).
//   interleaved:     warm-up (pp - rank - 1) * 2 + (vpp - 1) * pp chunk forwards (all m * vpp when m == pp),
//                    plus one, capped at m * vpp. per_chunk is the composition at the moment of that peak
//                    with the most forwards of the stage's extra-carrying chunk (chunk 0 on the first stage,
//                    the last chunk on the last), found by walking the interleaved op order (at most 4 pp
//                    microbatches of it: sim/schedule/steady_state.hpp, so the cost does not grow with m).
InflightMicrobatches inflight_microbatches(PipelineScheduleOption schedule, std::int64_t pp, std::int64_t vpp,
                                           std::int64_t pp_rank, std::int64_t num_microbatches);

}  // namespace trainmem::sim
