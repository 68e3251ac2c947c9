// Scenario: everything one estimate needs (model, layout, training setup, device), as plain values.
// resolve_scenario() applies defaults, derives dp / num_microbatches, and checks cross-field rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "partition/model_spec.hpp"
#include "partition/parallel_config.hpp"
#include "sim/recipe.hpp"

namespace trainmem::sim {

enum class RecomputeGranularity { none, selective, full };
enum class RecomputeMethod { uniform, block };
enum class AttentionKernel { flash, eager };

struct TrainingConfig {
  std::int64_t seq_length = 0;          // 0 = the preset's default
  std::int64_t micro_batch_size = 1;
  std::int64_t global_batch_size = 0;   // 0 = micro_batch_size * dp (one microbatch per rank)
  std::string recipe = "mixed-16";
  std::string optimizer = "adam";
  bool use_distributed_optimizer = false;  // Megatron: ZeRO stage 1
  RecomputeGranularity recompute_granularity = RecomputeGranularity::none;
  RecomputeMethod recompute_method = RecomputeMethod::uniform;
  std::int64_t recompute_num_layers = 0;
  AttentionKernel attention = AttentionKernel::flash;
};

struct Scenario {
  std::optional<ModelSpec> model;                 // a layered model, or...
  std::optional<ElementCount> num_parameters;     // ...a bare parameter count (model states only)
  std::int64_t default_seq_length = 2048;         // from the preset, used when training.seq_length == 0
  ParallelConfig parallel;
  TrainingConfig training;
  std::optional<Bytes> gpu_memory;
  std::string gpu_name;                           // "" when gpu_memory was given directly or not at all
};

struct ResolvedScenario {
  Scenario scenario;               // with defaults applied and parallel resolved
  const Recipe* recipe = nullptr;
  const Optimizer* optimizer = nullptr;
  std::int64_t num_microbatches = 1;
};

ResolvedScenario resolve_scenario(Scenario scenario);

}  // namespace trainmem::sim
