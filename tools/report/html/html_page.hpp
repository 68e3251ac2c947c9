// The shell of trainmem's self-contained HTML reports (`simulate`, `estimate`, `plan` and `compare` with --html):
// one file with the CSS, the JavaScript (tools/report/html/report.css and report.js, embedded at build time)
// and the report's data as JSON. No network: the page renders its charts from the embedded data.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "sim/accounting/estimate.hpp"

namespace trainmem::tools {

// The page: `data` must carry "kind" ("simulate", "estimate", "plan" or "compare"), which report.js dispatches on.
std::string html_page(const std::string& title, const nlohmann::json& data);

// The memory categories in report order, with their short titles and colours: [{key, title, color}].
nlohmann::json html_categories();

// The device and the safety budget lines of the charts: {"name", "bytes"} and {"bytes", "label"}, or null.
nlohmann::json html_device(const sim::Scenario& scenario);
nlohmann::json html_budget(const sim::Scenario& scenario);

// The rank classes of an estimate as bars: [{label, ranks, peak, bytes: [per category], point}], and
// extra: {title, bytes} for the KV cache of --inference (in the peak, in no category).
nlohmann::json html_rank_classes(const sim::EstimateResult& result);

}  // namespace trainmem::tools
