// The weight copies Transformer Engine keeps for the FP8 / MXFP8 / NVFP4 linear layers of one pipeline stage
// (docs/low-precision.md): the quantized weight cache in both directions (or, with --fp8-param-gather, the quantized
// parameter itself in place of the bf16 one) and, for delayed scaling, the amax history and scales.
#pragma once

#include "partition/layer_assignment.hpp"
#include "partition/model_spec.hpp"
#include "partition/parallel_config.hpp"
#include "sim/accounting/low_precision.hpp"
#include "sim/accounting/model_state_memory.hpp"

namespace trainmem::sim {

// Adds the quantized-weight terms of `stage` to `m` (nothing when `c` quantizes nothing). With param_gather the
// bf16 parameter term loses the quantized weights' 2 bytes per element.
void add_quantized_weight_terms(ModelStateMemory& m, const ModelSpec& model, const ParallelConfig& parallel,
                                const StageLayers& stage, const LowPrecisionConfig& c);

}  // namespace trainmem::sim
