// `trainmem plan --why-not` (plan_why_not.hpp): the verdict on the given layout and its single-knob fixes.
#include "tools/cli/plan/plan_why_not.hpp"

#include <algorithm>
#include <iomanip>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "partition/error.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/engine/simulate.hpp"
#include "sim/planner/planner.hpp"
#include "tools/cli/cli.hpp"
#include "tools/cli/plan/plan_reproduce.hpp"
#include "tools/report/format.hpp"
#include "tools/report/plan/plan_lines.hpp"
#include "tools/report/report.hpp"

namespace trainmem::tools {
namespace {

struct Fix {
  std::string change;
  sim::PlanLayout layout;
  Bytes peak;
  sim::PlanCost cost;
  std::optional<Bytes> simulated;  // the replay's peak (when the fixes are replayed): the verdict
  Bytes verdict() const { return simulated ? *simulated : peak; }
};

}  // namespace

int run_why_not(const BuiltScenario& built, const CommandLine& cl, const PlanFlags& f, std::ostream& out) {
  if (!built.scenario.gpu_memory) throw ConfigError("gpu", "(none)", "--why-not needs --gpu NAME or --gpu-memory SIZE");
  const sim::EstimateResult est = sim::estimate(built.scenario);
  if (!est.resolved.scenario.model)
    throw ConfigError("num_parameters", "(bare count)", "--why-not needs a layered model");
  const Bytes budget = sim::plan_budget(*built.scenario.gpu_memory, f.margin_ppm);
  const sim::ResolvedScenario& rs = est.resolved;
  const sim::PlanLayout here = sim::layout_of_scenario(rs.scenario);
  const ModelSpec& M = *rs.scenario.model;
  unsigned grad_bytes = 2;
  for (const auto& t : rs.recipe->tensors)
    if (t.category == sim::MemoryCategory::grads && t.zero_class == ZeroStateClass::gradients)
      grad_bytes = bits_per_element(t.dtype) / 8;
  const sim::PlanCostModel cost_model(M, rs.scenario.training, est.activation_bytes, grad_bytes, f.gpus_per_node);
  auto params_of = [](const sim::EstimateResult& r) {
    double d = 0, x = 0;
    for (const auto& c : r.classes) {
      d = std::max(d, static_cast<double>(c.shard.dense.value));
      x = std::max(x, static_cast<double>(c.shard.expert.value));
    }
    return std::make_pair(d, x);
  };

  sim::PlanRequest rq;
  rq.base = built.scenario;
  // The node size of the per-node host totals: --gpus-per-node, else the scenario's.
  rq.gpus_per_node = f.gpus_per_node_flag ? *f.gpus_per_node_flag : built.scenario.gpus_per_node;
  const EstimateArgs reproduce = estimate_args_for(cl, rq.gpus_per_node);
  auto host_fits = [&](const sim::EstimateResult& r) {
    return r.per_node.host <= f.host_memory && r.per_node.nvme <= f.nvme;
  };
  const auto& worst = est.classes[est.max_peak_class];
  out << "# trainmem " << kVersion << " plan --why-not\n";
  out << "# model      " << model_line(rs, built.model_source) << "\n";
  out << "# training   " << training_line(rs) << "\n";
  out << "# device     " << device_line(built.scenario, budget, f.margin_ppm) << "\n";
  out << "# layout     world_size " << here.world_size() << " = tp " << here.tp << " x cp " << here.cp << " x pp "
      << here.pp << " x dp " << here.dp << "; vpp " << here.vpp << ", ep " << here.ep << ", sequence_parallel "
      << (here.sequence_parallel ? "on" : "off") << ", zero_stage " << here.zero_stage << ", recompute "
      << recompute_label(here) << ", micro_batch_size " << here.micro_batch_size << ", " << rs.num_microbatches
      << " microbatches\n";
  if (here.offloads())
    out << "# Offload    " << offload_label(here) << ": the largest node needs " << iec(est.per_node.host)
        << " host RAM and " << iec(est.per_node.nvme) << " NVMe (at most " << iec(f.host_memory) << " / " << iec(f.nvme)
        << ": --host-memory-per-node, --nvme-per-node)\n";
  if (est.max_peak <= budget && !host_fits(est)) {
    out << "# Verdict    DOES NOT FIT: the GPU peak " << iec(est.max_peak)
        << " is under the budget, but the offloaded bytes exceed the node's host RAM or NVMe\n";
    return kExitDoesNotFit;
  }
  // The verdict is the replay's, as plan's (estimate() is an upper bound of it: a layout over the budget by
  // estimate() can fit when replayed, docs/planner.md section 5).
  std::optional<sim::SimulationResult> replay;
  if (f.simulate && host_fits(est)) replay = sim::simulate(built.scenario, false);
  const bool replay_over = replay && replay->max_peak > budget;
  // Within the budget by estimate() but over it when replayed: the overflow lines below name the replay's.
  const bool over_only_replayed = replay_over && est.max_peak <= budget;
  if (replay && !replay_over && est.max_peak > budget) {
    out << "# Verdict    FITS when replayed: estimate() puts the fullest rank (class " << est.max_peak_class
        << ", ranks " << rank_ranges(worst.ranks) << ", pp_rank " << worst.coords.pp << ") at " << iec(est.max_peak)
        << ", " << iec(est.max_peak - budget)
        << " over the budget at its stated peak points (an upper bound), but the simulator's replay of the step "
           "peaks at "
        << iec(replay->max_peak) << " (" << with_commas(replay->max_peak.value) << " bytes), "
        << iec(budget - replay->max_peak) << " under\n";
    return kExitOk;
  }
  if (est.max_peak <= budget && !replay_over) {
    out << "# Verdict    FITS: the fullest rank (class " << est.max_peak_class << ", ranks " << rank_ranges(worst.ranks)
        << ", pp_rank " << worst.coords.pp << ") peaks at " << iec(est.max_peak) << ", " << iec(budget - est.max_peak)
        << " under the budget";
    if (replay)
      out << "; replayed by the simulator it peaks at " << iec(replay->max_peak) << ", "
          << iec(budget - replay->max_peak) << " under";
    out << "\n";
    return kExitOk;
  }
  sim::MemoryBreakdown at_peak = worst.bytes;
  if (over_only_replayed) {
    const sim::StageReport& st = replay->stages.at(replay->max_peak_stage);
    const Bytes over = replay->max_peak - budget;
    out << "# Verdict    DOES NOT FIT when replayed: estimate() puts the fullest rank at " << iec(est.max_peak) << ", "
        << iec(budget - est.max_peak) << " under the budget, but the simulator's replay of the step peaks at "
        << iec(replay->max_peak) << " (" << with_commas(replay->max_peak.value) << " bytes) on stage " << st.pp_rank
        << " (ranks " << rank_ranges(st.ranks) << "), " << iec(over) << " (" << with_commas(over.value)
        << " bytes) over the budget, at " << sim::describe(st.simulation.peak_event, st.pp_rank) << "\n";
    at_peak = st.simulation.at_peak;
  } else {
    const Bytes over = est.max_peak - budget;
    out << "# Verdict    DOES NOT FIT: class " << est.max_peak_class << " (ranks " << rank_ranges(worst.ranks)
        << ", pp_rank " << worst.coords.pp << ") peaks at " << iec(est.max_peak) << " ("
        << with_commas(est.max_peak.value) << " bytes), " << iec(over) << " (" << with_commas(over.value)
        << " bytes) over the budget";
    if (replay) out << "; replayed, " << iec(replay->max_peak) << " (" << iec(replay->max_peak - budget) << " over)";
    out << "\n";
  }
  sim::MemoryCategory largest = sim::MemoryCategory::params;
  for (auto c : sim::kMemoryCategories)
    if (at_peak[c] > at_peak[largest]) largest = c;
  out << "# Largest    " << sim::category_name(largest) << " " << iec(at_peak[largest]) << " of that rank's peak;";
  for (auto c : sim::kMemoryCategories)
    if (at_peak[c].value != 0) out << " " << sim::category_name(c) << " " << gib(at_peak[c]);
  out << " (GiB)\n";
  std::int64_t over_ranks = 0;
  if (over_only_replayed) {
    for (const auto& st : replay->stages)
      if (st.simulation.peak > budget) over_ranks += static_cast<std::int64_t>(st.ranks.size());
  } else {
    for (const auto& c : est.classes)
      if (c.peak > budget) over_ranks += static_cast<std::int64_t>(c.ranks.size());
  }
  out << "# Overflow   " << over_ranks << " of " << est.world_size << " ranks exceed the budget"
      << (over_only_replayed ? " when replayed" : "") << "\n";

  // Single-knob changes: each knob over its values; tp, pp and cp also keep the GPU count by moving dp.
  std::vector<std::pair<std::string, sim::PlanLayout>> tries;
  const std::int64_t world = here.world_size();
  const std::int64_t gbs = rs.scenario.training.global_batch_size;
  auto add = [&](std::string what, sim::PlanLayout l) {
    if (!(l == here)) tries.emplace_back(std::move(what), l);
  };
  auto s = [](std::int64_t v) { return std::to_string(v); };
  auto degree = [&](const char* name, std::int64_t sim::PlanLayout::*field, const std::vector<std::int64_t>& values) {
    for (std::int64_t v : values) {
      sim::PlanLayout l = here;
      l.*field = v;
      add(std::string(name) + " " + s(here.*field) + " -> " + s(v), l);  // dp kept: the GPU count changes
      const std::int64_t other = l.tp * l.cp * l.pp;
      if (world % other == 0) {
        l.dp = world / other;
        add(std::string(name) + " " + s(here.*field) + " -> " + s(v) + ", dp " + s(here.dp) + " -> " + s(l.dp), l);
      }
    }
  };
  std::vector<std::int64_t> small;
  for (std::int64_t v = 1; v <= std::max<std::int64_t>(f.gpus_per_node, 64); v *= 2) small.push_back(v);
  std::vector<std::int64_t> layer_divisors;
  for (std::int64_t v = 1; v <= M.num_layers; ++v)
    if (M.num_layers % v == 0) layer_divisors.push_back(v);
  degree("tp", &sim::PlanLayout::tp, small);
  degree("pp", &sim::PlanLayout::pp, layer_divisors);
  degree("cp", &sim::PlanLayout::cp, small);
  for (std::int64_t v = 1; v <= gbs && v <= 65536; ++v)
    if (gbs % v == 0) {
      sim::PlanLayout l = here;
      l.dp = v;
      add("dp " + s(here.dp) + " -> " + s(v), l);
    }
  for (std::int64_t v : layer_divisors) {
    sim::PlanLayout l = here;
    l.vpp = v;
    add("vpp " + s(here.vpp) + " -> " + s(v), l);
  }
  for (std::int64_t v = 1; v <= f.max_mbs; v *= 2) {
    sim::PlanLayout l = here;
    l.micro_batch_size = v;
    add("micro_batch_size " + s(here.micro_batch_size) + " -> " + s(v), l);
  }
  {
    sim::PlanLayout l = here;
    l.sequence_parallel = !here.sequence_parallel;
    add(std::string("sequence_parallel ") + (l.sequence_parallel ? "off -> on" : "on -> off"), l);
  }
  for (int z = 0; z <= 3; ++z) {
    sim::PlanLayout l = here;
    l.zero_stage = z;
    add("zero_stage " + s(here.zero_stage) + " -> " + s(z), l);
  }
  const std::string rc_here = recompute_label(here);
  auto recompute = [&](sim::RecomputeGranularity g, sim::RecomputeMethod m, std::int64_t k) {
    sim::PlanLayout l = here;
    l.recompute_granularity = g, l.recompute_method = m, l.recompute_num_layers = k;
    add("recompute " + rc_here + " -> " + recompute_label(l), l);
  };
  recompute(sim::RecomputeGranularity::none, sim::RecomputeMethod::uniform, 0);
  recompute(sim::RecomputeGranularity::selective, sim::RecomputeMethod::uniform, 0);
  recompute(sim::RecomputeGranularity::full, sim::RecomputeMethod::uniform, 1);
  for (std::int64_t k = 1; k < M.num_layers; ++k) {
    recompute(sim::RecomputeGranularity::full, sim::RecomputeMethod::block, k);
    recompute(sim::RecomputeGranularity::full, sim::RecomputeMethod::uniform, k + 1);  // groups of k + 1 layers
  }
  // Ulysses degrees and HSDP shard groups inside dp (the GPU count kept); estimate() drops those it refuses.
  for (std::int64_t v = 1; v <= here.dp; v *= 2) {
    sim::PlanLayout l = here;
    l.ulysses_sp = v;
    add("ulysses_sp " + s(here.ulysses_sp) + " -> " + s(v), l);
  }
  for (std::int64_t v = 1; v <= here.dp; ++v)
    if (here.dp % v == 0) {
      sim::PlanLayout l = here;
      l.shard_group_size = v == here.dp ? 0 : v;
      const auto name = [&](std::int64_t g) { return g == 0 ? "dp (" + s(here.dp) + ")" : s(g); };
      add("shard_group_size " + name(here.shard_group_size) + " -> " + name(l.shard_group_size), l);
    }
  // Offload (with --offload-search): each knob on its own, and with the ZeRO stage / recompute it needs.
  if (f.offload_search != sim::OffloadDevice::none) {
    std::vector<sim::OffloadDevice> tiers = {sim::OffloadDevice::cpu};
    if (f.offload_search == sim::OffloadDevice::nvme) tiers.push_back(sim::OffloadDevice::nvme);
    auto add_offload = [&](std::string what, const sim::PlanLayout& l) {
      for (const auto& t : tries)
        if (t.second == l) return;
      if (!(l == here)) tries.emplace_back(std::move(what), l);
    };
    for (sim::OffloadDevice d : tiers) {
      const std::string dn(sim::offload_device_name(d));
      for (int z : {here.zero_stage, 1, 2, 3}) {  // estimate() refuses what DeepSpeed refuses: not a fix
        const std::string zt = z == here.zero_stage ? "" : "zero_stage " + s(here.zero_stage) + " -> " + s(z) + ", ";
        auto label = [&](const char* what) {  // "zero_stage 1 -> 3, offload_param cpu"
          std::string text = zt;
          text += what;
          text += dn;
          return text;
        };
        sim::PlanLayout l = here;
        l.zero_stage = z;
        l.offload_optimizer = d;
        add_offload(label("offload_optimizer "), l);
        l = here;
        l.zero_stage = z;
        l.offload_param = d;
        if (z == 3) add_offload(label("offload_param "), l);
        l.offload_optimizer = d;
        if (z == 3) add_offload(label("offload opt+param "), l);
      }
    }
    sim::PlanLayout l = here;
    l.offload_checkpoints = true;
    if (here.recompute_granularity != sim::RecomputeGranularity::full)
      l.recompute_granularity = sim::RecomputeGranularity::full, l.recompute_method = sim::RecomputeMethod::uniform,
      l.recompute_num_layers = 1;
    add_offload(
        std::string(here.recompute_granularity == sim::RecomputeGranularity::full ? "" : "recompute -> full, ") +
            "offload checkpoints",
        l);
  }
  if (M.is_moe())
    for (std::int64_t v = 1; v <= M.num_experts; ++v)
      if (M.num_experts % v == 0) {
        sim::PlanLayout l = here;
        l.ep = v;
        add("ep " + s(here.ep) + " -> " + s(v), l);
      }

  std::vector<Fix> fixes;
  for (const auto& [what, l] : tries) {
    if (l.world_size() > (f.max_gpus ? *f.max_gpus : std::int64_t{1} << 24)) continue;
    try {
      const sim::EstimateResult r = sim::estimate(sim::scenario_for(rq, l));
      // Replayed (below), a change over the budget by estimate() may still fit.
      if ((!f.simulate && r.max_peak > budget) || !host_fits(r)) continue;
      const auto [d, x] = params_of(r);
      const double ckpt = r.layer_activations ? static_cast<double>(r.layer_activations->checkpoint.value) : 0.0;
      fixes.push_back({what, l, r.max_peak, cost_model.cost(l, r.resolved.num_microbatches, d, x, ckpt), std::nullopt});
    } catch (const Error&) {
      // Not a valid layout (a divisibility rule): not a fix.
    }
  }
  std::stable_sort(fixes.begin(), fixes.end(), [&](const Fix& a, const Fix& b) {
    const bool sa = a.layout.world_size() == world, sb = b.layout.world_size() == world;
    if (sa != sb) return sa;
    if (a.layout.offloads() != b.layout.offloads()) return b.layout.offloads();  // offload last (plan's rule)
    if (a.cost.total != b.cost.total) return a.cost.total < b.cost.total;
    return a.peak < b.peak;
  });
  const std::size_t want = std::max<std::size_t>(f.top, 1);
  std::size_t replay_rejected = 0, estimate_fit_rejected = 0;
  if (f.simulate) {
    // Replay the fixes best first until enough fit in the replay (each replay takes milliseconds); the verdict is
    // the replay's, so a change over the budget by estimate() is kept when its replay fits.
    std::vector<Fix> kept;
    for (Fix& x : fixes) {
      if (kept.size() == want) break;
      x.simulated = sim::simulate(sim::scenario_for(rq, x.layout), false).max_peak;
      if (*x.simulated <= budget) {
        kept.push_back(std::move(x));
      } else {
        ++replay_rejected;
        if (x.peak <= budget) ++estimate_fit_rejected;
      }
    }
    fixes = std::move(kept);
  }
  if (fixes.empty()) {
    out << "# Fix        no single-knob change fits" << (f.simulate ? " (by estimate() and when replayed)" : "")
        << "; try `trainmem plan` with these model and training flags\n";
    return kExitDoesNotFit;
  }
  out << "#\n# cheapest single-knob changes that fit (same GPU count first, then the cost proxy)";
  if (fixes.front().layout.world_size() != world) out << "; none fits on the same " << world << " GPUs";
  out << ":\n";
  out << "#  change                                     gpus      peak" << (f.simulate ? "  sim peak" : "")
      << "   headroom    cost\n";
  out << "#                                                      (GiB)" << (f.simulate ? "     (GiB)" : "")
      << "      (GiB)\n";
  const std::size_t shown = std::min<std::size_t>(fixes.size(), want);
  for (std::size_t i = 0; i < shown; ++i) {
    const Fix& x = fixes[i];
    out << "   " << std::left << std::setw(40) << x.change << std::right << std::setw(8) << x.layout.world_size()
        << std::setw(10) << (x.peak > budget ? "*" + gib(x.peak) : gib(x.peak));
    if (x.simulated) out << std::setw(10) << gib(*x.simulated);
    out << std::setw(11) << gib(budget - x.verdict()) << std::setw(8) << fixed(x.cost.total, 3) << "\n";
  }
  if (std::any_of(fixes.begin(), fixes.begin() + static_cast<std::ptrdiff_t>(shown),
                  [&](const Fix& x) { return x.peak > budget; }))
    out << "# *          over the budget by estimate() (an upper bound) but within it when replayed\n";
  if (replay_rejected > 0)
    out << "# Replayed   " << replay_rejected << " cheaper change(s) overflow when replayed by the simulator ("
        << estimate_fit_rejected << " of them fit by estimate()); not listed\n";
  const Fix& best = fixes.front();
  out << "# Fix        " << best.change << ": "
      << shell_command(reproduce_args(reproduce(best.layout), best.simulated && best.peak > budget)) << "\n";
  return kExitDoesNotFit;
}

}  // namespace trainmem::tools
