// Reporters for LoRA/QLoRA estimates (docs/lora.md): the table header line, the JSON additions (`config.lora`,
// per-rank adapter detail) and the model-state derivation of a rank class.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "sim/accounting/estimate.hpp"

namespace trainmem::tools {

// "# lora ..." line; writes nothing without LoRA.
void write_lora_header(std::ostream& out, const sim::EstimateResult& result);
// Sets config.lora (null without LoRA) and, with LoRA, ranks[i].lora.
void add_lora_json(nlohmann::json& doc, const sim::EstimateResult& result);
// The frozen-base and adapter model states of a LoRA rank class.
std::string explain_lora_states(const sim::EstimateResult& result, const sim::RankClass& rank_class);

}  // namespace trainmem::tools
