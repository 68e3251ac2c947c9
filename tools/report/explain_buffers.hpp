// --explain lines and JSON of one rank class's step buffers (DDP / DeepSpeed buckets, ZeRO-3 gathers, activation
// gradients, p2p) and the schedule point its peak is taken at (sim/accounting/step_buffers.hpp, stage_peak.hpp).
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "sim/accounting/estimate.hpp"

namespace trainmem::tools {

void explain_buffers(std::ostream& out, const sim::RankClass& c, const sim::Scenario& scenario);
// {"peak_point", "terms": [{name, category, lifetime, formula, source, bytes}]}, or null without the megatron path.
nlohmann::json buffers_json(const sim::RankClass& c, const sim::Scenario& scenario);

}  // namespace trainmem::tools
