// The search driver: visits the bases in world-size order, skips those whose model-state bound overflows
// (planner_bounds.cpp), evaluates every inner knob (full block recompute by bisection, plan_bounds.hpp), keeps each
// base's cheapest fitting variant in the ranking (plan_ranking.cpp) and stops once no larger world can enter it;
// also the unpruned walks for tests and audits (for_each_candidate, fitting_variants, candidates).
#include <algorithm>
#include <stdexcept>

#include "sim/planner/plan_bounds.hpp"
#include "sim/planner/plan_ranking.hpp"
#include "sim/planner/planner.hpp"

namespace trainmem::sim {

PlanLayout Planner::layout_of(std::size_t bi, bool sp, int zero_stage, const RecomputeChoice& rc,
                              const OffloadChoice& off) const {
  PlanLayout l = bases_[bi].layout;
  l.offload_optimizer = off.optimizer;
  l.offload_param = off.param;
  l.offload_checkpoints = off.checkpoints;
  l.sequence_parallel = sp;
  l.zero_stage = zero_stage;
  l.recompute_granularity = rc.granularity;
  l.recompute_method = rc.method;
  l.recompute_num_layers = rc.num_layers;
  return l;  // first/last stage layers come with the base
}

PlanEntry Planner::entry_of(std::size_t bi, const PlanLayout& layout, Bytes peak) const {
  PlanEntry e;
  e.layout = layout;
  e.base = static_cast<std::uint32_t>(bi);
  e.num_microbatches = bases_[bi].m;
  e.max_peak = peak;
  return e;
}

PlanCost Planner::cost_of(std::size_t bi, const PlanLayout& l) const {
  const Base& b = bases_[bi];
  const ShardPiece& S = shards_[b.shard];
  double dense = 0, expert = 0;
  for (std::size_t k = 0; k < S.dense.size(); ++k) {
    if ((k == 1 && b.layout.pp < 3) || (k == 2 && b.layout.pp < 2)) continue;
    dense = std::max(dense, static_cast<double>(S.dense[k].value));
    expert = std::max(expert, static_cast<double>(S.expert[k].value));
  }
  const Bytes checkpoint = layers_[b.layer + (l.sequence_parallel ? 1U : 0U)].layer.checkpoint;
  return cost_model_->cost(l, b.m, dense, expert, static_cast<double>(checkpoint.value));
}

void Planner::for_each_inner(
    const std::function<void(std::size_t, bool, int, const RecomputeChoice&, const OffloadChoice&)>& visit) const {
  for (std::size_t bi = 0; bi < bases_.size(); ++bi) for_each_inner_of(bi, visit);
}

template <typename Simple, typename Block>
void Planner::walk_inner(const Options& o, Simple&& simple, Block&& block) const {
  for (int si = 0; si < o.num_sp; ++si)
    for (int zi = 0; zi < o.num_zero; ++zi) {
      const bool sp = o.sp[static_cast<std::size_t>(si)];
      const int z = o.zero[static_cast<std::size_t>(zi)];
      for (int oi = 0; oi < num_state_off_[static_cast<std::size_t>(z)]; ++oi) {
        const StateOffload so = state_off_[static_cast<std::size_t>(z)][static_cast<std::size_t>(oi)];
        for (const auto& rc : o.simple) {
          if (rc.granularity != RecomputeGranularity::full) {
            simple(sp, z, rc, OffloadChoice{so.optimizer, so.param, false});
            continue;
          }
          for (int ci = 0; ci < num_ckpt_full_; ++ci)
            simple(sp, z, rc, OffloadChoice{so.optimizer, so.param, ckpt_full_[static_cast<std::size_t>(ci)]});
        }
        if (o.block_lo > o.block_hi) continue;
        for (int ci = 0; ci < num_ckpt_full_; ++ci)
          block(sp, z, OffloadChoice{so.optimizer, so.param, ckpt_full_[static_cast<std::size_t>(ci)]});
      }
    }
}

namespace {
RecomputeChoice block_recompute(std::int64_t n) { return {RecomputeGranularity::full, RecomputeMethod::block, n}; }
}  // namespace

void Planner::for_each_inner_of(
    std::size_t bi,
    const std::function<void(std::size_t, bool, int, const RecomputeChoice&, const OffloadChoice&)>& visit) const {
  const Options& o = options_[bases_[bi].options];
  walk_inner(
      o, [&](bool sp, int z, const RecomputeChoice& rc, const OffloadChoice& off) { visit(bi, sp, z, rc, off); },
      [&](bool sp, int z, const OffloadChoice& off) {
        for (std::int64_t k = o.block_lo; k <= o.block_hi; ++k) visit(bi, sp, z, block_recompute(k), off);
      });
}

std::vector<Planner::Candidate> Planner::candidates() const {
  std::vector<Candidate> out;
  out.reserve(static_cast<std::size_t>(candidate_count()));
  for_each_inner([&out](std::size_t bi, bool sp, int z, const RecomputeChoice& rc, const OffloadChoice& off) {
    out.push_back({static_cast<std::uint32_t>(bi), sp, z, rc, off});
  });
  return out;
}

void Planner::for_each_candidate(const std::function<void(const PlanEntry&)>& visit) const {
  for_each_inner([&](std::size_t bi, bool sp, int z, const RecomputeChoice& rc, const OffloadChoice& off) {
    const PeakBounds pb = evaluate_bounds(bi, sp, z, rc, off);
    PlanEntry e = entry_of(bi, layout_of(bi, sp, z, rc, off), pb.upper);
    e.lower_peak = pb.lower;
    e.cost = cost_of(bi, e.layout);
    const NodeOffload n = node_offload(bi, sp, z, rc, off);
    e.host_per_node = n.host;
    e.nvme_per_node = n.nvme;
    visit(e);
  });
}

std::vector<PlanEntry> Planner::fitting_variants(std::size_t bi, bool by_replay) const {
  if (bi >= bases_.size()) throw std::out_of_range("Planner::fitting_variants: no such base");
  std::vector<PlanEntry> out;
  for_each_inner_of(bi, [&](std::size_t, bool sp, int z, const RecomputeChoice& rc, const OffloadChoice& off) {
    const PeakBounds pb = evaluate_bounds(bi, sp, z, rc, off);
    const Bytes peak = pb.upper;
    if ((by_replay ? pb.lower : peak) > budget_) return;
    NodeOffload n;
    if (off.any()) {  // offload fits only if the node has the host RAM / NVMe (as in search())
      n = node_offload(bi, sp, z, rc, off);
      if (n.host > request_.host_memory_per_node || n.nvme > request_.nvme_per_node) return;
    }
    PlanEntry e = entry_of(bi, layout_of(bi, sp, z, rc, off), peak);
    e.lower_peak = pb.lower;
    e.cost = cost_of(bi, e.layout);
    e.host_per_node = n.host;
    e.nvme_per_node = n.nvme;
    out.push_back(e);
  });
  std::sort(out.begin(), out.end(), plan_entry_less);
  return out;
}

PlanResult Planner::search(const PlanSearchOptions& opt,
                           const std::function<std::uint64_t(std::uint64_t)>& global_sum) const {
  PlanResult res;
  auto& c = res.counts;
  res.layouts.reserve(opt.top + 1);
  const auto slices = static_cast<std::size_t>(std::max(opt.slices, 1));
  const auto slice = static_cast<std::size_t>(opt.slice);
  const std::uint64_t enough = opt.min_gpus ? 1 : opt.top;

  auto push = [&](const PlanEntry& e) {
    if (opt.top == 0) return;
    if (res.layouts.size() == opt.top && !plan_entry_less(e, res.layouts.back())) return;
    auto at = std::upper_bound(res.layouts.begin(), res.layouts.end(), e, plan_entry_less);
    res.layouts.insert(at, e);  // capacity reserved: no allocation
    if (res.layouts.size() > opt.top) res.layouts.pop_back();
  };

  std::int64_t current_world = 0;
  bool stopped = false;
  const std::uint64_t total = opt.progress ? candidate_count() : 0;
  const std::size_t every = std::max<std::size_t>(opt.progress_every, 1);
  auto report = [&](std::size_t bases_done, bool done) {
    const PlanEntry* best = res.layouts.empty() ? nullptr : &res.layouts.front();
    opt.progress(PlanProgress{bases_done, bases_.size(), c.candidates, total, c.evaluated, best, done});
  };
  for (std::size_t bi = 0; bi < bases_.size(); ++bi) {
    if (opt.progress && bi > 0 && bi % every == 0) report(bi, false);
    const Base& b = bases_[bi];
    const std::int64_t world = b.layout.world_size();
    if (world != current_world) {
      // A world-size group is complete: if enough layouts fit on this or fewer GPUs (over every slice), no
      // larger world can enter the ranking.
      if (opt.stop_early && current_world != 0 && !stopped) stopped = global_sum(c.fitting_bases) >= enough;
      current_world = world;
    }
    if (bi % slices != slice) continue;
    const Options& o = options_[b.options];
    const std::uint64_t inner = o.count;
    c.candidates += inner;
    ++c.bases;
    if (stopped) {
      c.not_visited += inner;
      continue;
    }
    // The bound: model states at the highest ZeRO stage (with offload, the least over the stages: a fixed
    // offload knob may leave the highest stage with less to remove).
    int zmax = o.zero[static_cast<std::size_t>(o.num_zero - 1)];
    Bytes lb = lower_bound(b, zmax, opt.fit_by_replay);
    if (offload_in_space_)
      for (int zi = 0; zi + 1 < o.num_zero; ++zi)
        if (const Bytes v = lower_bound(b, o.zero[static_cast<std::size_t>(zi)], opt.fit_by_replay); v < lb)
          lb = v, zmax = o.zero[static_cast<std::size_t>(zi)];
    if (lb > budget_) {
      c.pruned_by_bound += inner;
      if (c.fitting_bases == 0 && (!res.closest_bound || lb <= res.closest_bound->max_peak)) {
        const StateOffload so = state_off_[static_cast<std::size_t>(zmax)]
                                          [static_cast<std::size_t>(bound_choice_[static_cast<std::size_t>(zmax)])];
        const PlanEntry e =
            entry_of(bi, layout_of(bi, o.sp[0], zmax, RecomputeChoice{}, {so.optimizer, so.param, false}), lb);
        if (!res.closest_bound || plan_entry_closer(e, *res.closest_bound)) res.closest_bound = e;
      }
      continue;
    }
    std::optional<PlanEntry> best;
    bool base_fits = false;  // some variant fits by estimate() (fit_by_replay: `best` may only fit by the bound)
    // Returns whether the GPU peak fits (fit_by_replay: whether lower_falling does, the part of the bound that never
    // rises with block recompute's N); the layout fits if its offloaded bytes also fit the node.
    auto consider = [&](bool sp, int z, const RecomputeChoice& rc, const OffloadChoice& off) {
      Bytes peak, lower, falling;
      if (opt.fit_by_replay) {
        const PeakBounds pb = evaluate_bounds(bi, sp, z, rc, off);
        peak = pb.upper, lower = pb.lower, falling = pb.lower_falling;
      } else {
        peak = lower = falling = evaluate(bi, sp, z, rc, off);
      }
      ++c.evaluated;
      const bool gpu_fits = peak <= budget_, gpu_may = lower <= budget_;
      NodeOffload node;
      bool host_ok = true;
      if (gpu_may && off.any()) {
        node = node_offload(bi, sp, z, rc, off);
        host_ok = node.host <= request_.host_memory_per_node && node.nvme <= request_.nvme_per_node;
        if (!host_ok && gpu_fits) ++c.over_host;
      }
      const bool fits = gpu_fits && host_ok, may = gpu_may && host_ok;
      if (fits)
        ++c.fitting, base_fits = true;
      else if (may)
        ++c.may_fit;
      if (may || (!gpu_may && (!res.closest || peak <= res.closest->max_peak))) {
        PlanEntry e = entry_of(bi, layout_of(bi, sp, z, rc, off), peak);
        e.lower_peak = lower;
        e.cost = cost_of(bi, e.layout);
        e.host_per_node = node.host;
        e.nvme_per_node = node.nvme;
        if (may) {
          if (!best || plan_entry_less(e, *best)) best = e;
        } else if (!res.closest || plan_entry_closer(e, *res.closest)) {
          res.closest = e;
        }
      }
      return falling <= budget_;
    };
    walk_inner(
        o, [&](bool sp, int z, const RecomputeChoice& rc, const OffloadChoice& off) { consider(sp, z, rc, off); },
        [&](bool sp, int z, const OffloadChoice& off) {
          // Full block recompute of N layers per chunk: the smallest N whose GPU peak fits is the only one worth
          // keeping (plan_bounds.hpp). fit_by_replay: the smallest N whose falling part of the bound fits; if the
          // whole bound overflows there, its rising part does at every larger N. Checkpoint offload's host bytes
          // rise with N: if they overflow at that N they overflow at every larger one.
          const std::uint64_t evals = smallest_fitting_block(
              o.block_lo, o.block_hi, [&](std::int64_t k) { return consider(sp, z, block_recompute(k), off); });
          c.pruned_monotone += static_cast<std::uint64_t>(o.block_hi - o.block_lo + 1) - evals;
        });
    if (best) {
      if (base_fits) ++c.fitting_bases;
      push(*best);
    }
  }
  if (c.fitting_bases > 0 || !res.layouts.empty()) res.closest.reset(), res.closest_bound.reset();
  if (opt.min_gpus) keep_min_gpus(res.layouts);
  if (opt.progress) report(bases_.size(), true);
  return res;
}

}  // namespace trainmem::sim
