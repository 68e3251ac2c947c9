// The planner's finalists replayed by the simulator: the search (fit_by_replay) ranks every layout whose lower
// bound of the replayed peak fits (Planner::evaluate_bounds(), stage_peak_lower() in sim/accounting/stage_peak.hpp),
// and simulate() (sim/engine/simulate.hpp) settles each finalist: a layout is kept when its replayed peak fits. So a
// layout over the budget by estimate() (an upper bound of the replay) but within it when replayed is found, and no
// layout whose replay fits is pruned (tests/sim/planner/plan_replay_bound_test.cpp). Bytes; DESIGN.md 6.
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
  PlanEntry entry;  // entry.max_peak: estimate()'s worst rank (may exceed the budget), entry.lower_peak its bound
  ReplayedPeak replayed;
};

struct PlanVerification {
  std::vector<VerifiedEntry> layouts;           // best first; each fits the budget in estimate() and in the replay
  std::uint64_t replays = 0;                    // simulate() runs
  std::uint64_t rejected = 0;                   // variants replayed over the budget (their lower bound fits)
  std::uint64_t bases_rejected = 0;             // finalist layouts none of whose variants fits in the replay
  std::uint64_t bases_replayed = 0;             // finalist layouts (bases) examined
  std::size_t depth = 0;                        // analytic ranking depth examined (top K of the search)
  std::optional<VerifiedEntry> first_rejected;  // the best-ranked variant the replay rejected
  std::uint64_t over_estimate = 0;              // kept layouts over the budget by estimate(), within it replayed
};

struct PlanVerifyOptions {
  std::size_t top = 10;   // layouts wanted
  bool min_gpus = false;  // keep only layouts on the smallest world size that fits in the replay
};

// Walks `ranking` (a fit_by_replay search's best `depth` layouts, at most one per base, min_gpus off) best first.
// For each base it replays the variants whose lower bound fits (Planner::fitting_variants(b, true)) in rank order
// and keeps the first whose replayed peak fits. When `ranking` runs out before the answer is settled it asks
// `deeper(K)` for the ranking with top K (K = 4 x depth) and goes on; entries are settled per base, so nothing is
// replayed twice. The result is the ranking of the layouts that fit when replayed (the search's knob space and
// order): a base's replay-fitting variant ranks no better than its entry in `ranking`, so the walk stops once `top`
// kept layouts rank before the next entry.
PlanVerification verify_finalists(const Planner& planner, PlanResult ranking, std::size_t depth,
                                  const PlanVerifyOptions& options,
                                  const std::function<PlanResult(std::size_t)>& deeper);

}  // namespace trainmem::sim
