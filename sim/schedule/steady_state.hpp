// The steady state of a pipeline schedule: beyond a few microbatches per stage, 1F1B and interleaved 1F1B repeat
// the same (model chunk) pattern of forwards and backwards, so the memory a stage reaches stops depending on the
// number of microbatches m. steady_state_microbatches() gives the m' <= m whose replay reaches every state m's
// replay reaches (tests/sim/schedule/steady_state_test.cpp sweeps it against the uncapped walks).
//
// Why 4 pp is enough (vpp >= 1; 1F1B is the case vpp = 1, grad-accum the case pp = 1). Forward k of the stage runs
// chunk (k / pp) % vpp, backward i chunk vpp - 1 - (i / pp) % vpp (schedule_interleaved.cpp), so in the steady
// phase (step i: forward w + i, backward i, after w warm-up forwards) the alive (microbatch, chunk) set at step
// i + P, P = pp * vpp, is the one at step i with every microbatch index shifted by pp: the phase repeats with
// period P. The warm-up w = 2 (pp - rank - 1) + (vpp - 1) pp is below (vpp + 1) pp, so with m' = 4 pp microbatches
// the steady phase has m' vpp - w > (3 vpp - 1) pp >= 2 P steps: one period in which every chunk's first backward
// happens (gradients that appear at a layer's first backward are all there after it) and one more that reaches
// every state with them. m' vpp and m vpp are multiples of P (the interleaved schedule needs m % pp == 0), so the
// cool-down (backwards only) starts from the same state, with microbatch indices shifted by m - m'.
#pragma once

#include <cstdint>

#include "sim/schedule/pipeline_schedule.hpp"

namespace trainmem::sim {

// m itself for GPipe (every microbatch is alive at once), for m <= 4 pp, and for an interleaved m that is not a
// multiple of pp (a shape the schedule refuses); else 4 pp.
std::int64_t steady_state_microbatches(PipelineSchedule schedule, std::int64_t pp, std::int64_t m);

}  // namespace trainmem::sim
