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

#include <algorithm>
#include <cstddef>
#include <iterator>
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

// Allocation-free; inline: the planner's evaluator calls it per stage of every candidate.
inline StagePeak stage_peak(const StagePeakInputs& in, const StepBuffers& b) {
  const Bytes whole = b.persistent();
  const Bytes kept = in.activations - in.loss_extra;  // A - X
  const StagePeak points[] = {
      {kept, whole + b.layer_gather, in.cp_exchange, "forward"},
      {in.activations, whole, in.loss_transient, "loss"},
      {kept, whole + b.layer_gather,
       b.layer_gather_grads + std::max(in.cp_exchange, b.backward_transient + in.recompute_transient), "backward"},
      {kept, whole + b.p2p_send, Bytes(0), "p2p"},
  };
  std::size_t best = 0;
  Bytes best_total = points[0].total();
  for (std::size_t i = 1; i < std::size(points); ++i)
    if (const Bytes t = points[i].total(); t > best_total) best = i, best_total = t;
  return points[best];
}

// A lower limit of the replayed peak (the planner prunes with it: sim/planner/planner.hpp), from moments the replay
// provably passes through. The schedule's in-flight maximum (sim/schedule/inflight_microbatches.hpp, the `A` above)
// is the composition after one forward op, and the op after it is a backward (a forward would raise the count).
// Around that moment the replay (sim/engine/event_engine.cpp) holds, on top of the whole-step bytes:
//   forward  (that forward's last layer):                   A - X + gather + cp            (X: only if the op has it)
//   backward (the next op's last layer; it frees X first):  A - X + gather + layer grads + max(cp, act grads + r_last)
//   deeper   (the first layer rebuilding the largest group): A - X - freed + gather + layer grads + act grads + r_max
//   p2p      (after that forward, every stage but the last): A + send buffer                (X = 0 off the last stage)
//   loss     (last stage, vpp 1: every op carries X):        A + loss transient
//   optimizer step:                                          optimizer transient (mixed-20's fp32 gradient copy)
// r_last is the transient of the chunk's last layer, r_max the largest, `freed` the saved bytes of the layers the
// backward frees before reaching it (ChunkActivations). What estimate() places higher: r_max at the last layer, the
// p2p point on the last stage (its forwards send nothing; its backwards send after freeing their tensors), the loss
// point of an interleaved last stage (the op at the in-flight maximum need not be its last chunk), and mixed-20's
// fp32 gradient copy all step (the caller leaves it out of the model states and passes it as the transient).
// `falling` holds the points that never rise with full block recompute's N (they carry A), `rising` the deeper
// point (N checkpoints), so the planner can bisect over N.
struct StageReplayPoints {
  Bytes recompute_last;        // r_last
  Bytes freed_before_largest;  // `freed` (0: the last layer holds r_max)
  bool p2p_reached = false;    // every stage but the last (pp > 1)
  bool loss_reached = false;   // the last stage with vpp = 1
  Bytes optimizer_transient;
};
struct StagePeakLower {
  Bytes falling, rising;
  Bytes total() const { return falling > rising ? falling : rising; }
};
inline StagePeakLower stage_peak_lower(const StagePeakInputs& in, const StepBuffers& b, const StageReplayPoints& r) {
  const Bytes whole = b.persistent();
  const Bytes kept = in.activations - in.loss_extra;  // A - X
  const Bytes backward_base = kept + whole + b.layer_gather + b.layer_gather_grads;
  StagePeakLower out;
  // The last layer's transient is the largest one (freed == 0): that moment is the deeper point.
  const Bytes last = r.freed_before_largest.value > 0 ? r.recompute_last : Bytes(0);
  out.falling =
      std::max({kept + whole + b.layer_gather + in.cp_exchange,
                backward_base + std::max(in.cp_exchange, b.backward_transient + last), whole + r.optimizer_transient});
  if (r.p2p_reached) out.falling = std::max(out.falling, in.activations + whole + b.p2p_send);
  if (r.loss_reached) out.falling = std::max(out.falling, in.activations + whole + in.loss_transient);
  if (in.recompute_transient.value > 0 && kept >= r.freed_before_largest)
    out.rising = backward_base - r.freed_before_largest + b.backward_transient + in.recompute_transient;
  return out;
}

}  // namespace trainmem::sim
