// The derivation sections shared by `estimate --explain` and `trainmem explain`: the recipe (16/18/20 bytes
// per parameter), ZeRO sharding, one layer's per-op activation table and one rank class's terms, each with its
// formula, the numbers substituted (elements, bytes) and its source (ZeRO Sec. 3.1/5, Korthikanti et al. 2022).
#pragma once

#include <cstddef>
#include <ostream>

#include "sim/accounting/estimate.hpp"
#include "sim/accounting/stage_activations.hpp"

namespace trainmem::tools {

// Why the recipe costs 16, 18 or 20 bytes per parameter, and why fp32 master weights are kept.
void explain_recipes(std::ostream& o, const sim::EstimateResult& r);
// What each ZeRO stage shards.
void explain_zero(std::ostream& o);
// The saved-for-backward tensors of one transformer layer (layered models only: r.layer_activations).
void explain_layer_activations(std::ostream& o, const sim::EstimateResult& r);
// One stage's activation sum (layers x in-flight microbatches + stage extras, temporaries).
void explain_stage_activations(std::ostream& o, const sim::StageActivations& a);
// Every term of rank class `index`: parameters held, model states after ZeRO, activations, peak.
void explain_class(std::ostream& o, const sim::EstimateResult& r, std::size_t index);

}  // namespace trainmem::tools
