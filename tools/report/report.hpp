// Reporters for `trainmem estimate`: the nccl-tests style table, JSON (schema_version 1) and the
// --explain derivation (and the HTML page of --html). They write to a stream; only tools/ prints.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "sim/accounting/estimate.hpp"

namespace trainmem::tools {

inline constexpr const char* kVersion = "0.1.0";

void write_estimate_table(std::ostream& out, const sim::EstimateResult& result, const std::string& model_source);
// The "# Max peak" line and, when a device is given, the "# Device" fits verdict (estimate and inference tables).
void write_peak_verdict(std::ostream& out, const sim::EstimateResult& result);
nlohmann::json estimate_json(const sim::EstimateResult& result, const std::string& model_source);
// The derivation of every model-state term of every rank class, with the recipe explained.
std::string explain_estimate(const sim::EstimateResult& result);
// `trainmem estimate --html`: a self-contained page, the rank classes as bars against the device
// (report_estimate_html.cpp; docs/report.md).
std::string estimate_html(const sim::EstimateResult& result, const std::string& model_source);

}  // namespace trainmem::tools
