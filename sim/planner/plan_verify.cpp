#include "sim/planner/plan_verify.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "sim/engine/simulate.hpp"

namespace trainmem::sim {

ReplayedPeak replay_layout(const Planner& planner, const PlanLayout& layout) {
  const SimulationResult r = simulate(scenario_for(planner.request(), layout), false);
  const StageReport& s = r.stages.at(r.max_peak_stage);
  return {r.max_peak, s.pp_rank, describe(s.simulation.peak_event, s.pp_rank)};
}

namespace {

bool is_block(const PlanLayout& l) {
  return l.recompute_granularity == RecomputeGranularity::full && l.recompute_method == RecomputeMethod::block;
}

// The best variant of one base that fits in the replay, or none.
std::optional<VerifiedEntry> settle_base(const Planner& planner, std::uint32_t base, PlanVerification& v) {
  ++v.bases_replayed;
  const std::vector<PlanEntry> variants = planner.fitting_variants(base);
  const Bytes budget = planner.budget();
  // Replayed peaks of block variants per (sequence_parallel, zero_stage, offload) and N, and the largest N
  // known to overflow (fewer recomputed layers never need less memory: every N' <= it overflows too).
  using Key = std::tuple<bool, int, OffloadDevice, OffloadDevice, bool>;
  auto key_of = [](const PlanLayout& l) {
    return Key{l.sequence_parallel, l.zero_stage, l.offload_optimizer, l.offload_param, l.offload_checkpoints};
  };
  std::map<Key, std::map<std::int64_t, ReplayedPeak>> block_seen;
  std::map<Key, std::int64_t> block_fails_up_to;
  auto reject = [&](const PlanEntry& e, const ReplayedPeak& r) {
    ++v.rejected;
    if (!v.first_rejected || plan_entry_less(e, v.first_rejected->entry)) v.first_rejected = VerifiedEntry{e, r};
  };
  auto replay_block = [&](const Key& key, const PlanEntry& e) -> const ReplayedPeak& {
    auto& seen = block_seen[key];
    auto it = seen.find(e.layout.recompute_num_layers);
    if (it == seen.end()) {
      ++v.replays;
      it = seen.emplace(e.layout.recompute_num_layers, replay_layout(planner, e.layout)).first;
    }
    return it->second;
  };
  for (const PlanEntry& e : variants) {
    const PlanLayout& l = e.layout;
    if (!is_block(l)) {
      ++v.replays;
      const ReplayedPeak r = replay_layout(planner, l);
      if (r.peak <= budget) return VerifiedEntry{e, r};
      reject(e, r);
      continue;
    }
    const Key key = key_of(l);
    if (auto f = block_fails_up_to.find(key); f != block_fails_up_to.end() && l.recompute_num_layers <= f->second)
      continue;  // settled by monotonicity (counted as rejected when bisected)
    const ReplayedPeak& r = replay_block(key, e);
    if (r.peak <= budget) return VerifiedEntry{e, r};
    reject(e, r);
    // Bisect the larger N of this key (all fit by estimate) for the smallest that fits in the replay.
    std::vector<const PlanEntry*> larger;
    for (const PlanEntry& o : variants)
      if (is_block(o.layout) && key_of(o.layout) == key && o.layout.recompute_num_layers > l.recompute_num_layers)
        larger.push_back(&o);
    std::sort(larger.begin(), larger.end(), [](const PlanEntry* a, const PlanEntry* b) {
      return a->layout.recompute_num_layers < b->layout.recompute_num_layers;
    });
    std::size_t lo = 0, hi = larger.size();  // the first fitting index lies in [lo, hi]; hi = none fits
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (replay_block(key, *larger[mid]).peak <= budget)
        hi = mid;
      else
        lo = mid + 1;
    }
    const std::int64_t fails_up_to =
        lo == larger.size() ? larger.empty() ? l.recompute_num_layers : larger.back()->layout.recompute_num_layers
        : lo == 0           ? l.recompute_num_layers
                            : larger[lo - 1]->layout.recompute_num_layers;
    block_fails_up_to[key] = fails_up_to;
    for (const PlanEntry* o : larger)
      if (o->layout.recompute_num_layers <= fails_up_to) ++v.rejected;
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
      return v;
    }
    depth *= 4;
    ranking = deeper(depth);
  }
}

}  // namespace trainmem::sim
