// Reporter of vLLM's KV cache sizing for `trainmem estimate --inference` (sim/serving/vllm_kv_sizing.hpp,
// docs/inference.md): the "# vLLM" lines of the table (the budget, vLLM's own log lines "GPU KV cache size" and
// "Maximum concurrency for L tokens per request", and the max_model_len verdict) and the JSON `vllm` object.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "sim/accounting/estimate.hpp"

namespace trainmem::tools {

// Nothing when result.vllm is empty (no GPU, or contiguous KV cache: kv_block_size 0).
void write_vllm_lines(std::ostream& out, const sim::EstimateResult& result);
// The `vllm` object (null when result.vllm is empty).
nlohmann::json vllm_json(const sim::EstimateResult& result);

}  // namespace trainmem::tools
