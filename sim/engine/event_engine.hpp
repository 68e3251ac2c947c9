// Event engine: replays one training step of one pipeline stage as alloc/free events into a
// MemoryLedger, following the stage's schedule. It holds no formulas: every size comes from
// StageStepInputs, which the accounting modules fill (model states, activations, buffers).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/engine/memory_ledger.hpp"
#include "sim/schedule/pipeline_schedule.hpp"

namespace trainmem::sim {

struct StageStepInputs {
  std::int64_t pp = 1;
  std::int64_t pp_rank = 0;
  std::int64_t vpp = 1;
  std::int64_t num_microbatches = 1;
  PipelineSchedule schedule = PipelineSchedule::grad_accum;
  std::vector<std::int64_t> chunk_first_layer;  // per model chunk on this stage: global index of its first layer
  std::vector<std::int64_t> chunk_layers;       // per model chunk: number of layers
  MemoryBreakdown persistent;                   // allocated before the step and kept (model states, buckets)
  // Per microbatch, per layer of this stage in chunk order (chunk 0's layers first):
  std::vector<Bytes> layer_activation;     // what the layer keeps for backward (after the recompute choice)
  std::vector<Bytes> recompute_transient;  // rematerialised in its backward (full recompute), freed after it
  // ZeRO-3: bytes of gathered (unpartitioned) parameters alive while each layer runs, forward and backward,
  // in the same per-layer order as layer_activation (empty without ZeRO-3); in backward the layer's
  // full-size gradients exist alongside them until the bucket reduce-scatters them.
  std::vector<Bytes> layer_gather;
  std::vector<Bytes> layer_gather_grads;
  Bytes backward_transient;    // activation gradients alive while one layer runs its backward
  Bytes attention_transient;   // alive while one layer's attention runs, forward and backward (CP K/V exchange)
  Bytes embedding_activation;  // first stage, first chunk: embedding output (+ dropout mask)
  Bytes output_activation;     // last stage, last chunk: final norm + logits + loss, kept until backward
  Bytes output_transient;      // last stage: alive only while the loss is computed (e.g. bf16 logits)
  Bytes p2p_send_buffer;       // activation sent to the next stage, alive until the next op
  Bytes loss_grad_transient;   // last stage: the loss's input gradients at the start of each backward
  // Gradients that do not exist before the first backward (PyTorch zero_grad(set_to_none=True)): each layer's
  // appear after its first backward frees its saved tensors (same per-layer order as layer_activation; empty when
  // the gradients are persistent), the rest (embeddings, final norm) at the end of the first backward. They persist
  // across the microbatches (accumulation writes into them).
  std::vector<Bytes> layer_grads;
  Bytes late_grads;
  // Per step:
  Bytes optimizer_transient;     // optimizer-step scratch (e.g. fp32 gradient cast of one sub-group)
  Bytes param_gather_transient;  // post-step parameter all-gather bucket (ZeRO-1/2, distributed optimizer)
};

struct StepEvent {
  enum class Phase : std::uint8_t { setup, forward, backward, optimizer };
  Phase phase = Phase::setup;
  std::int32_t microbatch = -1;
  std::int32_t chunk = -1;
  std::int32_t layer = -1;  // global layer index, -1 when not a layer event
  const char* what = "";    // static string: "saved activations", "logits + loss", ...
};

struct TimelineSample {
  std::uint32_t event;
  MemoryBreakdown bytes;
};

struct StageSimulation {
  Bytes peak;
  MemoryBreakdown at_peak;
  StepEvent peak_event;
  std::uint32_t peak_event_index = 0;      // index into events (with a timeline; without one, of the replayed walk)
  MemoryBreakdown category_max;            // each category's own maximum over the step
  std::int64_t max_live_microbatches = 0;  // microbatches with saved activations alive at once
  std::vector<StepEvent> events;           // one per ledger event (kept only with a timeline)
  std::vector<TimelineSample> timeline;    // after every event (kept only with a timeline)
};

// Without a timeline the replay walks steady_state_microbatches() of the schedule (at most 4 pp microbatches; the
// same peak, breakdown, peak event and category maxima as the whole step: tests/sim/engine/event_engine_test.cpp),
// so its time does not grow with the number of microbatches. With one it walks every event.
StageSimulation simulate_stage(const StageStepInputs& inputs, bool keep_timeline);

// "backward, microbatch 3, layer 17 (chunk 0), stage 0: saved activations"
std::string describe(const StepEvent& event, std::int64_t pp_rank);

}  // namespace trainmem::sim
