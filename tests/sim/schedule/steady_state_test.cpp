// The steady-state bound of sim/schedule/steady_state.hpp: inflight_microbatches(), which walks at most 4 pp
// microbatches, against a brute-force walk of the whole step's op order (every microbatch), for every pp <= 16,
// vpp 1-4, stage and m from 1 to past 4 pp vpp, and a few huge m.
#include "sim/schedule/steady_state.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "sim/schedule/inflight_microbatches.hpp"

namespace trainmem::sim {
namespace {

struct Walked {
  std::int64_t total = 0;
  std::vector<std::int64_t> per_chunk;
};

// Every forward and backward of the whole step (no bound): the most chunk forwards alive after any forward and,
// among the moments with that many, the first with the most of the stage's extra-carrying chunk (chunk 0 on the
// first stage, the last chunk on the last; the first moment on other stages).
Walked brute_force(std::int64_t pp, std::int64_t vpp, std::int64_t rank, std::int64_t m) {
  const ScheduleShape shape{pp, rank, vpp, m};
  const std::vector<ScheduleOp> ops = vpp == 1 ? one_f_one_b_ops(shape) : interleaved_ops(shape);
  const auto extra_chunk = static_cast<std::size_t>(rank == 0 ? 0 : vpp - 1);
  const bool has_extra = vpp > 1 && (rank == 0 || rank == pp - 1);
  Walked best;
  best.per_chunk.assign(static_cast<std::size_t>(vpp), 0);
  std::vector<std::int64_t> alive(static_cast<std::size_t>(vpp), 0);
  std::int64_t total = 0;
  for (const ScheduleOp& op : ops) {
    if (op.kind == ScheduleOp::Kind::backward) {
      --alive[static_cast<std::size_t>(op.chunk)];
      --total;
      continue;
    }
    ++alive[static_cast<std::size_t>(op.chunk)];
    ++total;
    const bool more = total > best.total;
    const bool more_extra = has_extra && total == best.total && alive[extra_chunk] > best.per_chunk[extra_chunk];
    if (more || more_extra) best = {total, alive};
  }
  return best;
}

void expect_same(std::int64_t pp, std::int64_t vpp, std::int64_t rank, std::int64_t m) {
  const InflightMicrobatches got = inflight_microbatches(PipelineScheduleOption::one_f_one_b, pp, vpp, rank, m);
  const Walked want = brute_force(pp, vpp, rank, m);
  EXPECT_EQ(got.chunk_forwards, want.total) << "pp " << pp << " vpp " << vpp << " rank " << rank << " m " << m;
  EXPECT_EQ(got.per_chunk, want.per_chunk) << "pp " << pp << " vpp " << vpp << " rank " << rank << " m " << m;
}

TEST(SteadyState, BoundIsFourPpOutsideGpipe) {
  EXPECT_EQ(steady_state_microbatches(PipelineSchedule::one_f_one_b, 4, 1000), 16);
  EXPECT_EQ(steady_state_microbatches(PipelineSchedule::one_f_one_b, 4, 16), 16);
  EXPECT_EQ(steady_state_microbatches(PipelineSchedule::one_f_one_b, 4, 7), 7);
  EXPECT_EQ(steady_state_microbatches(PipelineSchedule::grad_accum, 1, 1 << 20), 4);
  EXPECT_EQ(steady_state_microbatches(PipelineSchedule::interleaved_one_f_one_b, 8, 800), 32);
  // Not a multiple of pp: the interleaved schedule refuses it, so the walk must see the shape as it is.
  EXPECT_EQ(steady_state_microbatches(PipelineSchedule::interleaved_one_f_one_b, 8, 801), 801);
  EXPECT_EQ(steady_state_microbatches(PipelineSchedule::gpipe, 4, 1000), 1000);
}

TEST(SteadyState, InflightEqualsTheWholeWalkForEveryShape) {
  for (std::int64_t pp = 1; pp <= 16; ++pp)
    for (std::int64_t vpp = 1; vpp <= 4; ++vpp)
      for (std::int64_t rank = 0; rank < pp; ++rank) {
        const std::int64_t top = 4 * pp * vpp + 3 * pp;
        for (std::int64_t m = vpp == 1 ? 1 : pp; m <= top; m += vpp == 1 ? 1 : pp) expect_same(pp, vpp, rank, m);
      }
}

TEST(SteadyState, InflightEqualsTheWholeWalkForHugeM) {
  // 2^12 microbatches per pipeline stage (over 1000 periods of the steady state): the whole walk has up to 2^19
  // ops.
  using Shape = std::pair<std::int64_t, std::int64_t>;
  for (const auto& [pp, vpp] : {Shape{16, 4}, Shape{8, 3}, Shape{5, 2}, Shape{16, 1}, Shape{3, 4}})
    for (std::int64_t rank : {std::int64_t{0}, std::int64_t{1}, pp / 2, pp - 1}) expect_same(pp, vpp, rank, pp << 12);
}

}  // namespace
}  // namespace trainmem::sim
