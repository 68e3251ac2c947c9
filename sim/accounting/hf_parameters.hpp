// The parameter tensors of a transformers model (what model.parameters() yields, in order) and how PyTorch's
// data-parallel sharders split them: ZeroRedundancyOptimizer's greedy whole-tensor partition (ZeRO-1) and FSDP2's
// per-parameter dim-0 shards (ZeRO-2/3). Elements, not bytes. Used by the hf framework profile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "partition/model_spec.hpp"

namespace trainmem::sim {

// One parameter tensor of the transformers model (model.parameters() order): dim 0 `rows`, `elements` in all.
// `layer` is the decoder layer holding it, -1 outside the layers (embeddings, final norm, LM head: the root
// module's own parameters under FSDP).
struct HfParamTensor {
  std::string name;
  std::uint64_t rows = 0;
  std::uint64_t elements = 0;
  std::int64_t layer = -1;
};

// The parameter tensors of the transformers model the spec describes (LlamaForCausalLM / Qwen2ForCausalLM for
// RMSNorm models, GPT2LMHeadModel for LayerNorm ones; a tied LM head is the embedding, listed once).
std::vector<HfParamTensor> hf_parameter_tensors(const ModelSpec& model, std::int64_t padded_vocab_size);

// torch.distributed.optim.ZeroRedundancyOptimizer's partition: whole tensors, sorted by size (descending, stable),
// each to the rank with the fewest elements so far (lowest rank on ties). Elements per rank.
std::vector<std::uint64_t> zero_redundancy_partition(const std::vector<HfParamTensor>& params, std::int64_t world);

// FSDP2 (fully_shard) per-parameter sharding: dim-0 chunks of ceil(rows / world) rows (padded), per rank.
std::uint64_t fsdp_shard_elements(const HfParamTensor& param, std::int64_t world);

}  // namespace trainmem::sim
