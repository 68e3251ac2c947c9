// The planner's finalists replayed by the simulator: simulate() (sim/engine/simulate.hpp) of the best layouts the
// analytic search ranked, keeping those whose replayed peak also fits the budget. estimate() takes the step
// buffers from the same source (sim/accounting/step_buffers) at stated peak points and is at or above the
// replayed peak per stage (tests/sim/engine/estimate_vs_simulate_test.cpp), so no finalist is rejected today;
// the replay stays as the check of that bound. Bytes; DESIGN.md 6.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sim/planner/planner.hpp"

namespace trainmem::sim {

struct ReplayedPeak {
  Bytes peak;              // simulate(scenario).max_peak: the largest total of any stage over the step
  std::int64_t stage = 0;  // the pipeline stage that reaches it
  std::string event;       // describe() of the event at the peak
};

// simulate() of the scenario `trainmem estimate` evaluates for `layout` (no timeline kept).
ReplayedPeak replay_layout(const Planner& planner, const PlanLayout& layout);

struct VerifiedEntry {
  PlanEntry entry;  // entry.max_peak: estimate()'s worst rank
  ReplayedPeak replayed;
};

struct PlanVerification {
  std::vector<VerifiedEntry> layouts;           // best first; each fits the budget in estimate() and in the replay
  std::uint64_t replays = 0;                    // simulate() runs
  std::uint64_t rejected = 0;                   // variants that fit by estimate() but not in the replay
  std::uint64_t bases_rejected = 0;             // finalist layouts none of whose variants fits in the replay
  std::uint64_t bases_replayed = 0;             // finalist layouts (bases) examined
  std::size_t depth = 0;                        // analytic ranking depth examined (top K of the search)
  std::optional<VerifiedEntry> first_rejected;  // the best-ranked variant the replay rejected
};

struct PlanVerifyOptions {
  std::size_t top = 10;   // layouts wanted
  bool min_gpus = false;  // keep only layouts on the smallest world size that fits in the replay
};

// Walks `ranking` (the search's best `depth` layouts, at most one per base, min_gpus off) best first. For
// each base it replays the base's estimate-fitting variants (Planner::fitting_variants) in rank order and
// keeps the first whose replayed peak fits; full block recompute is settled by bisection over N (memory
// never rises with N). When `ranking` runs out before the answer is settled it asks `deeper(K)` for the
// ranking with top K (K = 4 x depth) and goes on; entries are settled per base, so nothing is replayed
// twice. The result is the ranking of the layouts that fit in both estimate() and the replay (the
// analytic search's knob space and order).
PlanVerification verify_finalists(const Planner& planner, PlanResult ranking, std::size_t depth,
                                  const PlanVerifyOptions& options,
                                  const std::function<PlanResult(std::size_t)>& deeper);

}  // namespace trainmem::sim
