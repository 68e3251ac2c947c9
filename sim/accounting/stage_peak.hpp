// The peak of one pipeline stage in closed form (megatron path): the largest of a few stated points of the step,
// each the sum of what is live there, with the buffers of sim/accounting/step_buffers.hpp. estimate() and the
// planner's evaluator both call it (one formula); simulate() replays the same terms event by event.
//
// Relative to the whole-step bytes (model states, the DDP / IPG buckets, ZeRO-3's whole small tensors), with A the
// saved activations of every in-flight microbatch on the stage (embedding and loss extras included, the stage's
// `activations`) and X the last stage's loss extras of one microbatch (final norm, logits, loss):
//   forward  (last layer of a chunk):         A - X + gather                              + cp
//   loss     (last stage):                    A                                           + loss transient
//   backward (last layer, first backward):    A - X + gather + layer grads + max(cp, act grads + recompute)
//   p2p      (pp > 1, between two ops):       A - X + p2p send
// Backward frees the microbatch's loss extras before its layers run, so the recompute transient never meets them;
// the last stage sends only from a backward (after those extras are freed) or, interleaved, from a chunk before
// the last (before they exist).
//
// Why estimate >= simulate (docs/simulator.md, "Estimate and simulate"): every point assumes all in-flight
// microbatches' saved tensors present (the schedule's maximum, reached before the first backward), and the largest
// recompute transient of the chunk at its last layer (uniform groups: the full group; block: the first layer's,
// replayed when fewer tensors are saved). With pp = vpp = 1 the replay passes through each point exactly, so the
// two agree byte for byte except where the recompute transient of simulate's largest group sits below the last
// layer (uniform with n % group != 0, block), and the recipe's fp32 gradient copy (mixed-20), which estimate keeps
// whole while simulate holds it only in the optimizer step (one sub-group under ZeRO-3).
#pragma once

#include <string_view>

#include "partition/units.hpp"
#include "sim/accounting/memory_category.hpp"
#include "sim/accounting/step_buffers.hpp"

namespace trainmem::sim {

struct StagePeakInputs {
  Bytes activations;          // A
  Bytes loss_extra;           // X (0 off the last stage)
  Bytes loss_transient;       // last stage: logits while the loss is computed
  Bytes recompute_transient;  // the chunk's (chunk_activations())
  Bytes cp_exchange;          // one layer's K/V exchange
};

struct StagePeak {
  Bytes activations, buffers, temporaries;  // at the peak point (the whole-step buffers included in `buffers`)
  std::string_view point;                   // "forward", "loss", "backward", "p2p"
  Bytes total() const { return activations + buffers + temporaries; }
};

// Allocation-free.
StagePeak stage_peak(const StagePeakInputs& in, const StepBuffers& b);

}  // namespace trainmem::sim
