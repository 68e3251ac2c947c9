// Reporters for `trainmem simulate`: the per-stage table, JSON (schema_version 1), a Chrome trace event
// file (counter tracks per stage and category, phase slices; opens in Perfetto / chrome://tracing) and a
// self-contained HTML report (inline SVG, no network).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "sim/engine/simulate.hpp"

namespace trainmem::tools {

void write_simulation_table(std::ostream& out, const sim::SimulationResult& result, const std::string& model_source);
nlohmann::json simulation_json(const sim::SimulationResult& result, const std::string& model_source);
// Chrome trace event JSON, streamed. Needs a result simulated with keep_timeline.
void write_chrome_trace(std::ostream& out, const sim::SimulationResult& result);
std::string html_report(const sim::SimulationResult& result, const std::string& model_source);

}  // namespace trainmem::tools
