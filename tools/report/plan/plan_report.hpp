// Reporters for `trainmem plan`'s search: the table (plan_table.cpp) and JSON (schema_version 1,
// plan_json.cpp) of the layouts that fit, or why nothing does, with the JSON pieces the mpirun split also
// sends between ranks. They write sim/planner/ results; the command line (tools/cli/plan/plan_cli.cpp) gathers
// them and gives the reproducing `trainmem estimate` arguments of a layout.
#pragma once

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "sim/planner/plan_verify.hpp"
#include "sim/planner/planner.hpp"

namespace trainmem::tools {

// One answer row: the layout, with its replayed peak when the finalists were simulated.
struct PlanRow {
  sim::PlanEntry e;
  std::optional<sim::ReplayedPeak> replayed;
  // The peak that decides the fit: the replayed one when the finalists were simulated (estimate() bounds it from
  // above and may exceed the budget: fits_only_replayed()), else estimate()'s.
  Bytes verdict() const { return replayed ? replayed->peak : e.max_peak; }
  bool fits_only_replayed(Bytes budget) const { return replayed && e.max_peak > budget; }
};

// Everything a plan report prints.
struct PlanReport {
  const sim::Planner& planner;
  const sim::PlanRequest& request;                       // as the command line built it
  const sim::PlanResult& result;                         // the (merged) analytic search
  const std::vector<PlanRow>& rows;                      // the answer, best first
  const std::optional<sim::PlanVerification>& verified;  // the replay of the finalists (unless --no-simulate)
  std::string model_source;
  bool min_gpus = false;  // --min-gpus
  bool simulate = true;   // the finalists were replayed
  bool fits = false;      // a layout fits (the exit code's answer)
  // The `trainmem estimate` arguments (after "trainmem") that reproduce a layout.
  std::function<std::vector<std::string>(const sim::PlanLayout&)> reproduce;
};

void write_plan_table(std::ostream& out, const PlanReport& report);
nlohmann::json plan_json(const PlanReport& report);
// `--html`: a self-contained page, the searched layouts as a chart of GPUs against peak (plan_html.cpp).
std::string plan_html(const PlanReport& report);

// JSON pieces of a layout and of the search (also the wire format of the mpirun split, tools/cli/plan/plan_wire.cpp).
nlohmann::json layout_json(const sim::PlanLayout& l);
// The offload knobs of a layout (JSON layouts when offload is searched or set).
void add_offload_json(nlohmann::json& j, const sim::PlanLayout& l);
nlohmann::json cost_json(const sim::PlanCost& c, bool offload = false);
nlohmann::json counts_json(const sim::PlanCounts& c, bool offload = false);

}  // namespace trainmem::tools
