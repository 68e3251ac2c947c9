// The framework profile in the estimate's JSON and --explain (docs/frameworks.md): the points of an hf step, what
// is live at each, every term with its formula and source. Nothing is added for the default megatron profile.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "sim/accounting/estimate.hpp"

namespace trainmem::tools {

// config.framework / config.optimizer_impl and ranks[i].framework_step, when the scenario uses --framework hf.
void add_framework_json(nlohmann::json& doc, const sim::EstimateResult& result);

// The step points and terms of each rank class ("" without --framework hf).
std::string explain_framework(const sim::EstimateResult& result);

}  // namespace trainmem::tools
