// Reporters for `trainmem estimate --inference` (docs/inference.md): the table, the JSON additions (the
// `inference` config block, per-rank weight/KV/workspace detail, `inference_capacity`) and the derivation.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "sim/accounting/estimate.hpp"

namespace trainmem::tools {

void write_inference_table(std::ostream& out, const sim::EstimateResult& result, const std::string& model_source);
// Adds the inference fields to an estimate_json() document whose ranks follow result.classes.
void add_inference_json(nlohmann::json& doc, const sim::EstimateResult& result);
std::string explain_inference(const sim::EstimateResult& result);

}  // namespace trainmem::tools
