// `trainmem plan`'s table: the request (model, training, device, offload, search space, ranking), one row per
// layout that fits (peaks, headroom, cost), the best layout and its reproducing `trainmem estimate` command,
// or why nothing fits (the closest layouts); then the search counts and the replay of the finalists.
#include <algorithm>
#include <iomanip>
#include <string>

#include "tools/report/format.hpp"
#include "tools/report/plan/plan_lines.hpp"
#include "tools/report/plan/plan_report.hpp"
#include "tools/report/report.hpp"

namespace trainmem::tools {
namespace {

std::string nodes_text(std::int64_t world, std::int64_t gpn) {
  if (world % gpn == 0)
    return std::to_string(world / gpn) + (world / gpn == 1 ? " node" : " nodes") + " of " + std::to_string(gpn);
  return "part of one " + std::to_string(gpn) + "-GPU node";
}

}  // namespace

void write_plan_table(std::ostream& out, const PlanReport& report) {
  const sim::Planner& planner = report.planner;
  const sim::PlanRequest& rq = report.request;
  const sim::PlanResult& result = report.result;
  const std::vector<PlanRow>& rows = report.rows;
  const std::optional<sim::PlanVerification>& verified = report.verified;
  const Bytes budget = planner.budget();
  const Bytes gpu = *rq.base.gpu_memory;
  const auto& rs = planner.resolved_base();
  const auto& p = rq.base.parallel;
  const bool offload_on = planner.offload_in_space();
  const std::int64_t answer_world = rows.empty() ? 0 : rows.front().e.layout.world_size();
  out << "# trainmem " << kVersion << " plan\n";
  out << "# model      " << model_line(rs, report.model_source) << "\n";
  out << "# training   " << training_line(rs) << "\n";
  out << "# device     " << device_line(rq.base, budget, rq.safety_margin_ppm) << "\n";
  if (offload_on)
    out << "# offload    "
        << (rq.offload_search == sim::OffloadDevice::none
                ? std::string("fixed by the offload flags (--offload-search cpu|nvme searches the others)")
                : "searched up to " + std::string(sim::offload_device_name(rq.offload_search)) +
                      " (a fixed offload flag fixes its knob)")
        << "; a layout fits only if its node needs at most " << iec(rq.host_memory_per_node) << " host RAM and "
        << iec(rq.nvme_per_node)
        << " NVMe (--host-memory-per-node, --nvme-per-node); no offload ranks first on as many GPUs\n";
  out << "# search     ";
  if (rq.num_gpus)
    out << "exactly " << *rq.num_gpus << " GPUs";
  else
    out << "up to " << rq.max_gpus << " GPUs, whole " << rq.gpus_per_node << "-GPU nodes (or a divisor of one)";
  out << "; tp within a node; every knob not fixed by a flag; " << planner.num_bases()
      << " layouts x inner knobs = " << with_commas(planner.candidate_count()) << " candidates\n";
  if (offload_on)
    out << "# rank by    fewest GPUs, then no offload before offload, then cost = (1 + recompute) x (1 + bubble) + "
           "comm + offload (relative step time; docs/planner.md)\n";
  else
    out << "# rank by    fewest GPUs, then cost = (1 + recompute) x (1 + bubble) + comm (relative step time; "
           "docs/planner.md)\n";
  if (report.simulate)
    out << "# verify     the search keeps every layout whose lower bound of the replayed peak fits; the simulator "
           "replays the finalists (buckets, gathers, p2p buffers, the optimizer step) and a layout fits if that peak "
           "does; headroom from it (--no-simulate: estimate only)\n";
  out << "#\n";
  const bool moe = rs.scenario.model->is_moe();
  const bool split_col = rq.uneven_splits || p.first_stage_layers != 0 || p.last_stage_layers != 0;
  // Ulysses degree and HSDP shard group: columns when searched or fixed.
  const bool usp_col = rq.max_ulysses_sp > 1 || p.ulysses_sp != 1;
  const bool shard_col = rq.search_shard_groups || p.shard_group_size != 0;
  // dp and m grow with the cluster and the global batch: their columns widen past 5 characters when needed.
  int dw = 5, mw = 5;
  for (const auto& row : rows) {
    dw = std::max(dw, 1 + static_cast<int>(std::to_string(row.e.layout.dp).size()));
    mw = std::max(mw, 1 + static_cast<int>(std::to_string(row.e.num_microbatches).size()));
  }
  const std::string wider(static_cast<std::size_t>(dw - 5 + mw - 5), ' ');
  out << "#rank  gpus  tp  pp" << (split_col ? "  first/last" : "") << " vpp  cp" << (usp_col ? " usp" : "")
      << (moe ? "  ep etp" : "") << std::setw(dw) << "dp" << (shard_col ? " shard" : "") << "  mbs" << std::setw(mw)
      << "m"
      << "  sp zero  recompute      peak" << (report.simulate ? "  sim peak" : "") << "  headroom"
      << "  bubble  recomp    comm    cost" << (offload_on ? "  offl  offload           host/node" : "") << "\n";
  out << "#                            " << wider << (moe ? "        " : "") << (split_col ? "            " : "")
      << (usp_col ? "    " : "") << (shard_col ? "      " : "") << "                                      (GiB)"
      << (report.simulate ? "     (GiB)" : "") << "     (GiB)"
      << (offload_on ? "                                                              (GiB)" : "") << "\n";
  std::size_t rank = 0;
  for (const auto& row : rows) {
    const auto& e = row.e;
    const auto& l = e.layout;
    out << std::setw(5) << ++rank << std::setw(6) << l.world_size() << std::setw(4) << l.tp << std::setw(4) << l.pp;
    if (split_col)
      out << std::setw(12)
          << (l.first_stage_layers == 0 && l.last_stage_layers == 0
                  ? std::string("even")
                  : std::to_string(l.first_stage_layers) + "/" + std::to_string(l.last_stage_layers));
    out << std::setw(4) << l.vpp << std::setw(4) << l.cp;
    if (usp_col) out << std::setw(4) << l.ulysses_sp;
    if (moe) out << std::setw(4) << l.ep << std::setw(4) << (l.etp == 0 ? l.tp : l.etp);  // expert tensor parallel
    out << std::setw(dw) << l.dp;
    if (shard_col)
      out << std::setw(6) << (l.shard_group_size == 0 ? std::string("dp") : std::to_string(l.shard_group_size));
    out << std::setw(5) << l.micro_batch_size << std::setw(mw) << e.num_microbatches << std::setw(4)
        << (l.sequence_parallel ? "on" : "off") << std::setw(5) << l.zero_stage << std::setw(11) << recompute_label(l)
        << std::setw(10) << (row.fits_only_replayed(budget) ? "*" + gib(e.max_peak) : gib(e.max_peak));
    if (row.replayed) out << std::setw(10) << gib(row.replayed->peak);
    out << std::setw(10) << gib(budget - row.verdict()) << std::setw(8) << fixed(e.cost.bubble, 3) << std::setw(8)
        << fixed(e.cost.recompute, 3) << std::setw(8) << fixed(e.cost.comm, 3) << std::setw(8)
        << fixed(e.cost.total, 3);
    if (offload_on)
      out << std::setw(6) << fixed(e.cost.offload, 3) << "  " << std::left << std::setw(18) << offload_label(l)
          << std::right << std::setw(10) << gib(e.host_per_node);
    out << "\n";
  }
  const auto& c = result.counts;
  if (std::any_of(rows.begin(), rows.end(), [&](const PlanRow& r) { return r.fits_only_replayed(budget); }))
    out << "# *          over the budget by estimate() (its stated peak points, an upper bound) but within it when "
           "replayed: `trainmem simulate` with the layout's flags reproduces the fit\n";
  if (!rows.empty()) {
    if (report.min_gpus)
      out << "# Smallest   " << answer_world << " GPUs (" << nodes_text(answer_world, rq.gpus_per_node)
          << ") fit this job; no layout of the searched space on fewer GPUs does"
          << (report.simulate ? " (by estimate, or when replayed)" : "") << "\n";
    const auto& best = rows.front();
    out << "# Best       peak " << iec(best.e.max_peak) << " (" << with_commas(best.e.max_peak.value) << " bytes)";
    if (best.replayed)
      out << ", simulated " << iec(best.replayed->peak) << " (" << with_commas(best.replayed->peak.value)
          << " bytes) at " << best.replayed->event;
    out << "; " << iec(budget - best.verdict()) << " under the budget, " << iec(gpu - best.verdict())
        << " free on the device\n";
    if (best.e.layout.offloads())
      out << "# Offload    " << offload_label(best.e.layout) << ": the largest node needs " << iec(best.e.host_per_node)
          << " host RAM (" << with_commas(best.e.host_per_node.value) << " bytes) and " << iec(best.e.nvme_per_node)
          << " NVMe; offload cost " << fixed(best.e.cost.offload, 3) << " (PCIe "
          << iec(Bytes(static_cast<std::uint64_t>(best.e.cost.pcie_bytes))) << " per GPU per step)\n";
    out << "# Reproduce  "
        << shell_command(reproduce_args(report.reproduce(best.e.layout), best.fits_only_replayed(budget))) << "\n";
  } else {
    out << "# Verdict    NOTHING FITS";
    if (planner.num_bases() == 0) {
      out << ": no layout satisfies the limits and fixed knobs (world sizes, divisibility, global batch)\n";
    } else {
      out << "\n";
    }
    if (verified && verified->first_rejected) {
      const auto& r = *verified->first_rejected;
      out << "# Closest    estimate " << iec(r.entry.max_peak) << ", lower bound " << iec(r.entry.lower_peak)
          << ", but the replay peaks at " << iec(r.replayed.peak) << ", " << iec(r.replayed.peak - budget)
          << " over the budget, at " << r.replayed.event << ": " << shell_command(report.reproduce(r.entry.layout))
          << "\n";
    }
    if (result.closest) {
      const auto& e = *result.closest;
      out << "# Closest    evaluated layout: its fullest rank needs " << iec(e.max_peak - budget) << " ("
          << with_commas((e.max_peak - budget).value)
          << " bytes) more than the budget: " << shell_command(report.reproduce(e.layout)) << "\n";
    }
    if (result.closest_bound) {
      const auto& e = *result.closest_bound;
      out << "# Bound      " << (result.closest ? "on the other layouts" : "on every layout")
          << " the model states alone (with the layout's fixed runtime: CUDA context, NCCL, workspaces) exceed the "
             "budget; the least by "
          << iec(e.max_peak - budget) << " (" << with_commas((e.max_peak - budget).value) << " bytes, at ZeRO stage "
          << e.layout.zero_stage << "): " << shell_command(report.reproduce(e.layout)) << "\n";
    }
    if (result.counts.over_host > 0)
      out << "# Host       " << with_commas(result.counts.over_host)
          << " evaluated layouts fit the GPU budget but need more host RAM or NVMe per node than "
          << iec(rq.host_memory_per_node) << " / " << iec(rq.nvme_per_node) << "\n";
  }
  out << "# Searched   " << with_commas(c.candidates) << " candidates: " << with_commas(c.evaluated) << " evaluated, "
      << with_commas(c.pruned_by_bound) << " pruned (model states alone overflow), " << with_commas(c.pruned_monotone)
      << " settled by recompute monotonicity, " << with_commas(c.not_visited)
      << " not visited (more GPUs than the answer); " << with_commas(c.fitting_bases)
      << " layouts fit by estimate (best recompute/ZeRO/SP" << (offload_on ? "/offload" : "") << " variant each)";
  if (report.simulate) out << ", " << with_commas(c.may_fit) << " variants only by the replay's lower bound";
  if (offload_on) out << "; " << with_commas(c.over_host) << " fit the GPU but not the host";
  out << "\n";
  if (verified && verified->bases_replayed > 0) {
    const auto& v = *verified;
    out << "# Simulated  " << v.bases_replayed << " finalist layouts, " << v.replays
        << " simulate() runs: " << v.rejected << " variants overflow when replayed, " << v.over_estimate
        << " of the answer fit only when replayed";
    if (v.bases_rejected > 0) out << " (" << v.bases_rejected << " layouts had no variant left)";
    out << "\n";
    if (v.first_rejected && !rows.empty()) {
      const auto& r = *v.first_rejected;
      out << "# Rejected   best of them: " << recompute_label(r.entry.layout) << " on tp " << r.entry.layout.tp
          << " pp " << r.entry.layout.pp << " dp " << r.entry.layout.dp << " (zero " << r.entry.layout.zero_stage
          << (r.entry.layout.offloads() ? ", offload " + offload_label(r.entry.layout) : std::string())
          << "): estimate " << iec(r.entry.max_peak) << ", simulated " << iec(r.replayed.peak) << " at "
          << r.replayed.event << "\n";
    }
  }
}

}  // namespace trainmem::tools
