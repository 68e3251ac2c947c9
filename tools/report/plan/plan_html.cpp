// `trainmem plan --html`: the searched layouts as a chart (GPUs against the fullest rank's peak, fits or not,
// the cost proxy on hover), the chosen layout highlighted, each point with the `trainmem estimate` command that
// reproduces it; report.js draws it. The points: the answer's rows (replayed when the finalists were simulated),
// the rest of the analytic ranking, the replay's first rejection, the closest layout when nothing fits, and a
// sample of the space: per layout (base) its cheapest fitting variant, or its lowest peak when none fits, at
// most kPerWorld of each kind per GPU count.
#include <algorithm>
#include <map>
#include <sstream>

#include "tools/report/format.hpp"
#include "tools/report/html/html_page.hpp"
#include "tools/report/plan/plan_lines.hpp"
#include "tools/report/plan/plan_report.hpp"

namespace trainmem::tools {
namespace {

constexpr std::size_t kPerWorld = 16;                   // sampled layouts per GPU count and kind
constexpr std::uint64_t kSampleCandidates = 4'000'000;  // spaces larger than this are not sampled

std::string layout_text(const sim::PlanLayout& l) {
  std::string s = "tp " + std::to_string(l.tp) + ", pp " + std::to_string(l.pp);
  if (l.vpp > 1) s += ", vpp " + std::to_string(l.vpp);
  if (l.cp > 1) s += ", cp " + std::to_string(l.cp);
  if (l.ep > 1) s += ", ep " + std::to_string(l.ep);
  s += ", dp " + std::to_string(l.dp) + ", mbs " + std::to_string(l.micro_batch_size);
  s += std::string(l.sequence_parallel ? ", sp" : "") + ", zero " + std::to_string(l.zero_stage) + ", recompute " +
       recompute_label(l);
  if (l.offloads()) s += ", offload " + offload_label(l);
  return s;
}

}  // namespace

std::string plan_html(const PlanReport& report) {
  const sim::Planner& planner = report.planner;
  const Bytes budget = planner.budget();
  std::vector<nlohmann::json> points;
  std::vector<sim::PlanLayout> seen;
  auto add = [&](const sim::PlanEntry& e, const char* status, std::optional<Bytes> replayed, const std::string& note,
                 const PlanRow* row = nullptr) {
    if (std::find(seen.begin(), seen.end(), e.layout) != seen.end()) return;
    seen.push_back(e.layout);
    points.push_back(
        {{"gpus", e.layout.world_size()},
         {"peak", e.max_peak.value},
         {"sim_peak", replayed ? nlohmann::json(replayed->value) : nlohmann::json(nullptr)},
         {"cost", e.cost.total},
         {"status", status},
         {"layout", layout_text(e.layout)},
         {"note", note},
         {"cmd", shell_command(reproduce_args(report.reproduce(e.layout), row && row->fits_only_replayed(budget)))}});
  };
  for (std::size_t i = 0; i < report.rows.size(); ++i) {
    const auto& row = report.rows[i];
    add(row.e, i == 0 ? "chosen" : "answer", row.replayed ? std::optional(row.replayed->peak) : std::nullopt,
        row.replayed ? "replayed: " + row.replayed->event : "", &row);
  }
  // The rest of the search's ranking: those that fit by estimate() (a layout ranked only by the replay's lower bound
  // and not replayed is not known to fit).
  for (const auto& e : report.result.layouts)
    if (e.max_peak <= budget) add(e, "fits", std::nullopt, "ranked by the search");
  if (report.verified && report.verified->first_rejected) {
    const auto& r = *report.verified->first_rejected;
    add(r.entry, "rejected", r.replayed.peak, "fits by estimate, overflows when replayed at " + r.replayed.event);
  }
  if (report.result.closest) add(*report.result.closest, "over", std::nullopt, "the closest layout that overflows");
  if (report.result.closest_bound)
    add(*report.result.closest_bound, "bound", std::nullopt, "model states alone (a lower bound) overflow");
  if (planner.candidate_count() <= kSampleCandidates) {
    // Per base: its cheapest fitting variant, else its lowest peak.
    std::map<std::uint32_t, sim::PlanEntry> best;
    planner.for_each_candidate([&](const sim::PlanEntry& e) {
      auto [it, added] = best.emplace(e.base, e);
      if (added) return;
      const bool fits = e.max_peak <= budget, held_fits = it->second.max_peak <= budget;
      if ((fits && (!held_fits || sim::plan_entry_less(e, it->second))) ||
          (!fits && !held_fits && e.max_peak < it->second.max_peak))
        it->second = e;
    });
    std::map<std::pair<std::int64_t, bool>, std::vector<sim::PlanEntry>> by_world;
    for (const auto& [base, e] : best) by_world[{e.layout.world_size(), e.max_peak <= budget}].push_back(e);
    for (auto& [key, entries] : by_world) {
      const bool fits = key.second;
      std::sort(entries.begin(), entries.end(), [fits](const sim::PlanEntry& a, const sim::PlanEntry& b) {
        return fits ? sim::plan_entry_less(a, b) : a.max_peak < b.max_peak;
      });
      for (std::size_t i = 0; i < entries.size() && i < kPerWorld; ++i)
        add(entries[i], fits ? "fits" : "over", std::nullopt, "sampled from the search space (by estimate)");
    }
  }
  nlohmann::json data;
  data["kind"] = "plan";
  data["source"] = report.model_source;
  data["categories"] = html_categories();
  data["device"] = html_device(report.request.base);
  data["budget"] = {{"bytes", budget.value},
                    {"label", "budget (" + fixed(report.request.safety_margin_ppm / 10000.0, 1) + "% kept free)"}};
  data["points"] = points;
  std::ostringstream table;
  write_plan_table(table, report);
  data["text"] = table.str();
  return html_page("trainmem plan: " + report.model_source, data);
}

}  // namespace trainmem::tools
