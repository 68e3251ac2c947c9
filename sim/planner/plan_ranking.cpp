// The ranking of plan entries: plan_entry_less (fewest GPUs, no offload before offload, the cost proxy of
// sim/planner/plan_cost.hpp, the peak, the knobs: a strict total order), the closest miss when nothing fits, and
// merge_plan_results (the slices of a split search combined into the one-process result).
#include "sim/planner/plan_ranking.hpp"

#include <algorithm>
#include <tuple>

#include "sim/planner/planner.hpp"

namespace trainmem::sim {
namespace {

auto layout_key(const PlanLayout& l) {
  return std::make_tuple(l.tp, l.pp, l.vpp, l.cp, l.ep, l.etp, l.dp, l.micro_batch_size, !l.sequence_parallel,
                         l.zero_stage, static_cast<int>(l.recompute_granularity), static_cast<int>(l.recompute_method),
                         l.recompute_num_layers, l.first_stage_layers, l.last_stage_layers, l.ulysses_sp,
                         l.shard_group_size, static_cast<int>(l.offload_optimizer), static_cast<int>(l.offload_param),
                         l.offload_checkpoints);
}

}  // namespace

bool plan_entry_less(const PlanEntry& a, const PlanEntry& b) {
  const std::int64_t wa = a.layout.world_size(), wb = b.layout.world_size();
  if (wa != wb) return wa < wb;
  // Offload only where nothing else fits on as many GPUs: its cost term is the proxy's roughest (host CPU and
  // PCIe sharing vary), so it does not trade against recompute or the bubble (docs/planner.md section 7).
  if (a.layout.offloads() != b.layout.offloads()) return !a.layout.offloads();
  if (a.cost.total != b.cost.total) return a.cost.total < b.cost.total;
  if (a.max_peak != b.max_peak) return a.max_peak < b.max_peak;
  return layout_key(a.layout) < layout_key(b.layout);
}

bool plan_entry_closer(const PlanEntry& a, const PlanEntry& b) {  // smaller overflow first
  if (a.max_peak != b.max_peak) return a.max_peak < b.max_peak;
  return plan_entry_less(a, b);
}

void keep_min_gpus(std::vector<PlanEntry>& layouts) {
  if (layouts.empty()) return;
  const std::int64_t w = layouts.front().layout.world_size();
  layouts.erase(
      std::find_if(layouts.begin(), layouts.end(), [w](const PlanEntry& e) { return e.layout.world_size() != w; }),
      layouts.end());
}

PlanResult merge_plan_results(const std::vector<PlanResult>& parts, const PlanSearchOptions& options) {
  PlanResult out;
  for (const auto& p : parts) {
    out.layouts.insert(out.layouts.end(), p.layouts.begin(), p.layouts.end());
    const auto& c = p.counts;
    auto& o = out.counts;
    o.candidates += c.candidates, o.bases += c.bases, o.evaluated += c.evaluated;
    o.pruned_by_bound += c.pruned_by_bound, o.pruned_monotone += c.pruned_monotone, o.not_visited += c.not_visited;
    o.fitting_bases += c.fitting_bases, o.fitting += c.fitting, o.may_fit += c.may_fit, o.over_host += c.over_host;
    if (p.closest && (!out.closest || plan_entry_closer(*p.closest, *out.closest))) out.closest = p.closest;
    if (p.closest_bound && (!out.closest_bound || plan_entry_closer(*p.closest_bound, *out.closest_bound)))
      out.closest_bound = p.closest_bound;
  }
  std::sort(out.layouts.begin(), out.layouts.end(), plan_entry_less);
  if (options.min_gpus) keep_min_gpus(out.layouts);
  if (out.layouts.size() > options.top) out.layouts.resize(options.top);
  if (!out.layouts.empty()) out.closest.reset(), out.closest_bound.reset();
  return out;
}

}  // namespace trainmem::sim
