// LoRA / QLoRA fine-tuning memory of one rank (Hu et al. 2021; Dettmers et al. 2023): the frozen base holds
// params only, in base_weight_dtype with its scales (sim/serving/weight_quantization.hpp); adapters A (r x in) and
// B (out x r) on the target modules train with grads, master and optimizer states per the recipe. Under TP
// they split like PEFT's Megatron LoraParallelLinear (peft/tuners/lora/tp_layer.py): column-parallel base ->
// B split by output rows, A whole; row-parallel base -> A split by input columns, B whole.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "partition/layer_assignment.hpp"
#include "partition/model_spec.hpp"
#include "partition/parallel_config.hpp"
#include "partition/shard_plan.hpp"
#include "sim/accounting/model_state_memory.hpp"
#include "sim/accounting/recipe.hpp"
#include "sim/serving/weight_quantization.hpp"

namespace trainmem::sim {

// Hugging Face PEFT module names of a Llama-style layer (GPT-style: up_proj = fc1, down_proj = fc2).
enum class LoraTarget { q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj };

struct LoraConfig {
  std::int64_t rank = 0;                                                       // r; 0 = no LoRA (full fine-tuning)
  std::vector<LoraTarget> targets = {LoraTarget::q_proj, LoraTarget::v_proj};  // PEFT's Llama default
  bool all_linear = false;  // targets came from "all-linear": skip gate_proj on a model without one
  WeightFormat base;        // base_weight_dtype, quant_group_size, double_quantization
  bool enabled() const { return rank > 0; }
};

// "q_proj,v_proj", "q,k,v,o", "all-linear" (every linear of a layer, not the LM head, as PEFT). Duplicates
// are ignored; order is the layer's. Throws ConfigError("lora_target_modules", ...) for unknown names.
std::vector<LoraTarget> parse_lora_targets(std::string_view text);
std::string_view lora_target_name(LoraTarget target);
std::string lora_targets_text(const std::vector<LoraTarget>& targets);  // "q_proj,v_proj"

// One adapted module of one layer on one rank.
struct LoraModule {
  LoraTarget target;
  std::int64_t in = 0, out = 0;  // the base matrix's full (unsplit) input and output features
  bool row_parallel = false;     // o_proj, down_proj: the base splits its input over tp
  ElementCount a_elements;       // A on this rank: r*in (column-parallel base) or r*in/tp (row-parallel)
  ElementCount b_elements;       // B on this rank: r*out/tp (column-parallel base) or r*out (row-parallel)
  ElementCount elements() const { return a_elements + b_elements; }
};

struct LoraLayer {
  std::vector<LoraModule> modules;
  ElementCount params;            // adapter parameters of one layer on one rank
  std::uint64_t saved_width = 0;  // r-wide A outputs saved for backward per token (sum over modules)
};
// Throws ConfigError when a target does not exist in the model (gate_proj without SwiGLU, MLP targets of an
// MoE model) or r is out of range.
LoraLayer lora_layer(const ModelSpec& model, const LoraConfig& config, std::int64_t tp);
// Adapter parameters of the whole model (tp = 1): e.g. Llama-2-7B, r 8 on q,v: 4,194,304 (PEFT).
ElementCount lora_parameters(const ModelSpec& model, const LoraConfig& config);

struct LoraRank {
  RankWeights base;  // frozen, after ZeRO-3 sharding when zero_stage == 3
  LoraLayer layer;
  RankParamShard adapters;              // adapter parameters held on this rank before ZeRO
  ModelStateMemory states;              // frozen base terms + the adapters' recipe/optimizer terms
  Bytes adapter_activations_per_layer;  // one layer, one microbatch: tokens * saved_width * act bytes
};
// `stage` and `shard` from the existing plan; `dp` = the ways ZeRO shards (dp * cp): stage 3 (FSDP) shards the
// frozen base and the adapters, stages 1-2 only the adapters' states. The base's unquantised parts
// (embeddings, norms, LM head) are kept in the compute dtype (`activation_bytes`: 2 bf16, 4 fp32).
LoraRank lora_rank(const ModelSpec& model, const ParallelConfig& parallel, const StageLayers& stage,
                   const RankParamShard& shard, const LoraConfig& config, const Recipe& recipe,
                   const Optimizer& optimizer, int zero_stage, std::int64_t dp, std::int64_t tokens_per_microbatch,
                   unsigned activation_bytes);

}  // namespace trainmem::sim
