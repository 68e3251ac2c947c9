#include "sim/planner/plan_verify.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include "sim/engine/simulate.hpp"

namespace trainmem::sim {

ReplayedPeak replay_layout(const Planner& planner, const PlanLayout& layout) {
  const SimulationResult r = simulate(scenario_for(planner.request(), layout), false);
  const StageReport& s = r.stages.at(r.max_peak_stage);
  return {r.max_peak, s.pp_rank, describe(s.simulation.peak_event, s.pp_rank)};
}

namespace {

// The best variant of one base that fits in the replay, or none. The candidates are the variants whose lower bound
// fits (Planner::fitting_variants(b, true)), in rank order; the first whose replay fits is the answer. The replayed
// peak is not monotone in full block recompute's N (the deeper recompute point holds N checkpoints), so every
// candidate is replayed in order, none skipped by bisection.
std::optional<VerifiedEntry> settle_base(const Planner& planner, std::uint32_t base, PlanVerification& v) {
  ++v.bases_replayed;
  const Bytes budget = planner.budget();
  for (const PlanEntry& e : planner.fitting_variants(base, true)) {
    ++v.replays;
    const ReplayedPeak r = replay_layout(planner, e.layout);
    if (r.peak <= budget) return VerifiedEntry{e, r};
    ++v.rejected;
    if (!v.first_rejected || plan_entry_less(e, v.first_rejected->entry)) v.first_rejected = VerifiedEntry{e, r};
  }
  ++v.bases_rejected;
  return std::nullopt;
}

}  // namespace

PlanVerification verify_finalists(const Planner& planner, PlanResult ranking, std::size_t depth,
                                  const PlanVerifyOptions& options,
                                  const std::function<PlanResult(std::size_t)>& deeper) {
  PlanVerification v;
  const std::size_t need = std::max<std::size_t>(options.top, 1);
  depth = std::max<std::size_t>(depth, 1);
  std::map<std::uint32_t, std::optional<VerifiedEntry>> settled;
  for (;;) {
    std::vector<VerifiedEntry> kept;  // sorted best first
    bool complete = false;
    for (const PlanEntry& e : ranking.layouts) {
      // A base's replay-fitting variant ranks no better than its analytic best `e`, and later entries rank
      // after `e`: once `need` kept entries rank before `e`, nothing later can enter.
      if (options.min_gpus && !kept.empty() && e.layout.world_size() != kept.front().entry.layout.world_size()) {
        complete = true;
        break;
      }
      if (kept.size() >= need && plan_entry_less(kept[need - 1].entry, e)) {
        complete = true;
        break;
      }
      auto it = settled.find(e.base);
      if (it == settled.end()) it = settled.emplace(e.base, settle_base(planner, e.base, v)).first;
      if (!it->second) continue;
      const VerifiedEntry& ve = *it->second;
      kept.insert(std::upper_bound(
                      kept.begin(), kept.end(), ve,
                      [](const VerifiedEntry& a, const VerifiedEntry& b) { return plan_entry_less(a.entry, b.entry); }),
                  ve);
    }
    // Fewer entries than asked for: the analytic search ran out of fitting layouts, nothing is left.
    if (!complete && ranking.layouts.size() < depth) complete = true;
    if (complete) {
      if (kept.size() > need) kept.resize(need);
      v.layouts = std::move(kept);
      v.depth = depth;
      for (const VerifiedEntry& ve : v.layouts)
        if (ve.entry.max_peak > planner.budget()) ++v.over_estimate;
      return v;
    }
    depth *= 4;
    ranking = deeper(depth);
  }
}

}  // namespace trainmem::sim
