// The hf framework profile (Hugging Face transformers + Trainer on PyTorch): a named bundle of behaviours, each a
// term with a formula and a source (docs/frameworks.md). The peak of such a step is the largest of a few points
// of the step (forward end / loss, start of backward, end of backward, optimizer step), each the sum of what is
// live there, not a sum of per-category maxima. Bytes per rank; s*b tokens, h hidden, V vocabulary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/accounting/hf_parameters.hpp"
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

// The step's terms grouped by lifetime, for the event replay (sim/engine/simulate.cpp): the same bytes as the
// points, so the replay's largest moment is the largest point.
struct StepLifetimes {
  MemoryBreakdown persistent;  // parameters, optimizer states, token ids, DDP buckets: the whole step
  Bytes first_layer_saved;     // layer 0's kept tensors per microbatch; every other layer keeps kept_per_layer
  Bytes layer_recompute;       // rebuilt in each layer's backward under gradient checkpointing (layer_bytes), else 0
  Bytes input_saved;           // kept from the embedding on: position ids, embedding dropout mask, RoPE tables
  Bytes output_saved;          // kept from the loss on: the final norm, the LM head weight cast, fp32 log-probs
  Bytes loss_forward;          // logits and their fp32 copy, alive while log_softmax runs
  Bytes loss_backward;         // nll_loss and log_softmax gradients (fp32 [tokens, V]) at the start of backward
  Bytes grads;                 // every gradient: none before the first backward (zero_grad(set_to_none=True))
  Bytes optimizer_step;        // the optimizer implementation's temporaries
};

struct FrameworkStep {
  Framework framework = Framework::hf;
  OptimizerImpl optimizer_impl = OptimizerImpl::foreach;
  std::uint64_t trainable_elements = 0;    // the rank's trainable parameters (LoRA: the adapters), unsharded
  std::vector<FrameworkTerm> layer_terms;  // one transformer layer, one microbatch (what it saves for backward)
  Bytes layer_bytes;                       // their sum
  Bytes kept_per_layer;                    // layer_bytes, or the checkpoint (layer input) under full recompute
  std::vector<StepPoint> points;
  std::size_t peak_point = 0;
  StepLifetimes lifetimes;
  const StepPoint& peak() const { return points[peak_point]; }
};

// Why the hf profile does not model a layout (the field, its value, the reason), or nothing when it does: the rule
// hf_step_memory applies, for callers that search layouts (the planner) before building a rank's model states.
struct LayoutRefusal {
  std::string field, value, why;
};
// `lora`: LoRA adapters are trained (LoRA under ZeroRedundancyOptimizer / FSDP is not modelled).
std::optional<LayoutRefusal> hf_layout_refusal(const ParallelConfig& parallel, bool lora = false);

// The hf step of a single-stage rank (tp = pp = cp = 1): `states` are the rank's model states (full fine-tuning
// or LoRA), `trainable` the trainable parameter elements, `largest_trainable` the largest trainable tensor.
// Throws ConfigError for what the profile does not model (hf_layout_refusal; MoE, offload, selective recompute).
FrameworkStep hf_step_memory(const ResolvedScenario& resolved, const ModelStateMemory& states,
                             std::uint64_t trainable_elements, std::uint64_t largest_trainable_elements,
                             std::int64_t padded_vocab_size);

}  // namespace trainmem::sim
