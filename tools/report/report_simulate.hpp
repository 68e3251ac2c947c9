// Reporters for `trainmem simulate`: the per-stage table, JSON (schema_version 1), a Chrome trace event
// file (report_trace.cpp: counter tracks per stage, phase slices; opens in Perfetto) and a self-contained
// HTML report (report_simulate_html.cpp: charts drawn by embedded JavaScript, no network).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "sim/engine/simulate.hpp"

namespace trainmem::tools {

void write_simulation_table(std::ostream& out, const sim::SimulationResult& result, const std::string& model_source);
nlohmann::json simulation_json(const sim::SimulationResult& result, const std::string& model_source);

// Chrome trace event JSON (docs/report.md), streamed. Needs a result simulated with keep_timeline. Time axis:
// 1 us per simulated event. Counters with more than `max_samples` samples per stage are downsampled
// (timeline_downsample.hpp: each bucket's largest and smallest total, the peak always kept); 0 keeps every one.
inline constexpr std::size_t kTraceMaxSamples = 1200;
void write_chrome_trace(std::ostream& out, const sim::SimulationResult& result,
                        std::size_t max_samples = kTraceMaxSamples);

// The HTML report (docs/report.md). Needs a result simulated with keep_timeline.
std::string html_report(const sim::SimulationResult& result, const std::string& model_source);

}  // namespace trainmem::tools
