// Scenario: everything one estimate needs (model, layout, training setup, device), as plain values.
// resolve_scenario() applies defaults, derives dp / num_microbatches, and checks cross-field rules.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "partition/model_spec.hpp"
#include "partition/parallel_config.hpp"
#include "sim/accounting/framework.hpp"
#include "sim/accounting/low_precision.hpp"
#include "sim/accounting/recipe.hpp"
#include "sim/engine/zero_runtime.hpp"
#include "sim/finetune/lora_memory.hpp"
#include "sim/offload/offload_config.hpp"
#include "sim/runtime/runtime_config.hpp"
#include "sim/serving/inference_memory.hpp"

namespace trainmem::sim {

enum class RecomputeGranularity { none, selective, full };
enum class RecomputeMethod { uniform, block };
enum class AttentionKernel { flash, eager };
enum class PipelineScheduleOption { one_f_one_b, gpipe };  // 1F1B is interleaved when vpp > 1

struct TrainingConfig {
  std::int64_t seq_length = 0;  // 0 = the preset's default
  std::int64_t micro_batch_size = 1;
  std::int64_t global_batch_size = 0;  // 0 = micro_batch_size * dp (one microbatch per rank)
  std::string recipe = "mixed-16";
  std::string optimizer = "adam";
  bool use_distributed_optimizer = false;  // Megatron: ZeRO stage 1
  RecomputeGranularity recompute_granularity = RecomputeGranularity::none;
  RecomputeMethod recompute_method = RecomputeMethod::uniform;
  std::int64_t recompute_num_layers = 0;
  AttentionKernel attention = AttentionKernel::flash;
  // Dropout probabilities (Megatron --attention-dropout / --hidden-dropout). Unset = by model style:
  // 0.1 for GPT-style models (LayerNorm + learned positions, Megatron's default), 0 otherwise (Llama
  // recipes train without dropout). Only whether a probability is > 0 changes memory (the masks).
  std::optional<double> attention_dropout;
  std::optional<double> hidden_dropout;
  PipelineScheduleOption pipeline_schedule = PipelineScheduleOption::one_f_one_b;
  // MoE token capacity per expert as a multiple of the balanced share (Megatron --moe-expert-capacity-factor);
  // unset = dropless, modelled as perfectly balanced routing (tokens * topk / num_experts per expert).
  std::optional<double> moe_capacity_factor;
  // Liger-style fused linear + cross entropy: the logits are computed chunk by chunk and never kept whole.
  bool fused_linear_cross_entropy = false;
  // Framework profile (docs/frameworks.md): megatron (default) or hf; the optimizer implementation defaults
  // to the framework's (default_optimizer_impl).
  Framework framework = Framework::megatron;
  std::optional<OptimizerImpl> optimizer_impl;
  // Precision-aware optimizer and FP8 / MXFP8 / NVFP4 linear layers (Megatron + TE; docs/low-precision.md).
  LowPrecisionConfig low_precision;
};

struct Scenario {
  std::optional<ModelSpec> model;              // a layered model, or...
  std::optional<ElementCount> num_parameters;  // ...a bare parameter count (model states only)
  std::int64_t default_seq_length = 2048;      // from the preset, used when training.seq_length == 0
  ParallelConfig parallel;
  TrainingConfig training;
  ZeroRuntimeConfig zero_runtime;  // DeepSpeed buffer knobs (simulate)
  OffloadConfig offload;           // ZeRO-Offload / ZeRO-Infinity (docs/offload.md)
  RuntimeConfig runtime;           // non-model GPU memory (docs/runtime-memory.md)
  std::int64_t gpus_per_node = 8;  // ranks per node for the per-node host/NVMe/GPU totals
  std::optional<Bytes> gpu_memory;
  std::string gpu_name;       // "" when gpu_memory was given directly or not at all
  InferenceConfig inference;  // enabled: serving memory instead of a training step
  LoraConfig lora;            // rank > 0: LoRA/QLoRA fine-tuning
};

struct ResolvedScenario {
  Scenario scenario;                             // with defaults applied and parallel resolved
  const Recipe* recipe = nullptr;                // points into the tables, or at derived_recipe
  std::shared_ptr<const Recipe> derived_recipe;  // the precision-aware optimizer's recipe (low_precision.hpp)
  const Optimizer* optimizer = nullptr;
  std::int64_t num_microbatches = 1;
  // Settings that resolve but are likely a mistake (fewer microbatches than pipeline stages). The library never
  // prints: tools/ writes each as a "trainmem: warning:" line on stderr.
  std::vector<std::string> warnings;
};

ResolvedScenario resolve_scenario(Scenario scenario);

}  // namespace trainmem::sim
