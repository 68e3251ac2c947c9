// Monotone pruning of the planner's search (DESIGN.md section 9): GPU memory never rises with full block
// recompute's N (a recomputed layer keeps its checkpoint, a subset of what it would keep, or nothing under
// checkpoint offload; the transient is one layer for every N >= 1) while the recompute cost rises with N, so only
// the smallest N whose peak fits is worth keeping: found by bisection. Internal to sim/planner/.
#pragma once

#include <cstdint>

namespace trainmem::sim {

// Calls fits(N) for N = hi, then bisects [lo, hi] down to the smallest N with fits(N) (fits is monotone: false
// below some N, true from it on). Returns how many times fits was called.
template <typename Fits>
std::uint64_t smallest_fitting_block(std::int64_t lo, std::int64_t hi, Fits&& fits) {
  std::uint64_t evals = 1;
  if (fits(hi)) {
    while (lo < hi) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      ++evals;
      if (fits(mid))
        hi = mid;
      else
        lo = mid + 1;
    }
  }
  return evals;
}

}  // namespace trainmem::sim
