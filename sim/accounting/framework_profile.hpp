// The hf framework profile (Hugging Face transformers + Trainer on PyTorch): a named bundle of behaviours, each a
// term with a formula and a source (docs/frameworks.md). The peak of such a step is the largest of a few points
// of the step (forward end / loss, start of backward, end of backward, optimizer step), each the sum of what is
// live there, not a sum of per-category maxima. Bytes per rank; s*b tokens, h hidden, V vocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/accounting/memory_category.hpp"
#include "sim/accounting/model_state_memory.hpp"
#include "sim/accounting/scenario.hpp"

namespace trainmem::sim {

// One behaviour of the profile with its bytes on this rank.
struct FrameworkTerm {
  std::string name;
  MemoryCategory category = MemoryCategory::activations;
  std::string formula;  // symbolic, then with numbers: "4*s*b*V = 4*128*1*32000"
  std::string source;   // the code or document it comes from
  Bytes bytes;
};

// A moment of the step and what is live at it.
struct StepPoint {
  std::string name;
  std::vector<FrameworkTerm> terms;
  MemoryBreakdown bytes;  // the terms summed by category
};

struct FrameworkStep {
  Framework framework = Framework::hf;
  OptimizerImpl optimizer_impl = OptimizerImpl::foreach;
  std::vector<FrameworkTerm> layer_terms;  // one transformer layer, one microbatch (what it saves for backward)
  Bytes layer_bytes;                       // their sum
  Bytes kept_per_layer;                    // layer_bytes, or the checkpoint (layer input) under full recompute
  std::vector<StepPoint> points;
  std::size_t peak_point = 0;
  const StepPoint& peak() const { return points[peak_point]; }
};

// The hf step of a single-stage rank (tp = pp = cp = 1): `states` are the rank's model states (full fine-tuning
// or LoRA), `trainable` the trainable parameter elements, `largest_trainable` the largest trainable tensor.
// Throws ConfigError for what the profile does not model (tensor/pipeline/context parallelism, ZeRO, offload).
FrameworkStep hf_step_memory(const ResolvedScenario& resolved, const ModelStateMemory& states,
                             std::uint64_t trainable_elements, std::uint64_t largest_trainable_elements,
                             std::int64_t padded_vocab_size);

}  // namespace trainmem::sim
