// FP8 / MXFP8 / NVFP4 linear layers save their inputs for the weight-gradient GEMM quantized (1 byte per element,
// NVFP4 half a byte, plus the scales) instead of BF16 (TE linear.py / layernorm_linear.py: the input saved for
// backward is the quantized tensor with columnwise usage). Norms, attention core, softmax, SwiGLU input, residuals
// and dropout masks stay BF16. With flash attention the output O stays saved by the attention kernel in BF16 beside
// the out-projection's quantized copy of it.
#pragma once

#include <vector>

#include "partition/model_spec.hpp"
#include "partition/parallel_config.hpp"
#include "sim/accounting/activation_memory.hpp"
#include "sim/accounting/low_precision.hpp"

namespace trainmem::sim {

// Rewrites the linear-layer inputs of one layer's op table (nothing unless `c` quantizes, or when
// first_last_layers_bf16 keeps some layers BF16: then every layer is counted BF16, an upper bound).
void quantize_saved_linear_inputs(std::vector<ActivationOp>& ops, const ActivationDims& dims, const ModelSpec& model,
                                  const ParallelConfig& parallel, const LowPrecisionConfig& c, bool flash);

}  // namespace trainmem::sim
