#include "sim/accounting/stage_peak.hpp"

#include <algorithm>

namespace trainmem::sim {

StagePeak stage_peak(const StagePeakInputs& in, const StepBuffers& b) {
  const Bytes whole = b.persistent();
  const Bytes kept = in.activations - in.loss_extra;  // A - X
  const StagePeak points[] = {
      {kept, whole + b.layer_gather, in.cp_exchange, "forward"},
      {in.activations, whole, in.loss_transient, "loss"},
      {kept, whole + b.layer_gather,
       b.layer_gather_grads + std::max(in.cp_exchange, b.backward_transient + in.recompute_transient), "backward"},
      {kept, whole + b.p2p_send, Bytes(0), "p2p"},
  };
  const StagePeak* best = &points[0];
  for (const StagePeak& p : points)
    if (p.total() > best->total()) best = &p;
  return *best;
}

StagePeakLower stage_peak_lower(const StagePeakInputs& in, const StepBuffers& b, const StageReplayPoints& r) {
  const Bytes whole = b.persistent();
  const Bytes kept = in.activations - in.loss_extra;  // A - X
  const Bytes backward_base = kept + whole + b.layer_gather + b.layer_gather_grads;
  StagePeakLower out;
  // The last layer's transient is the largest one (freed == 0): that moment is the deeper point.
  const Bytes last = r.freed_before_largest.value > 0 ? r.recompute_last : Bytes(0);
  out.falling = std::max({kept + whole + b.layer_gather + in.cp_exchange,
                          backward_base + std::max(in.cp_exchange, b.backward_transient + last),
                          whole + r.optimizer_transient});
  if (r.p2p_reached) out.falling = std::max(out.falling, in.activations + whole + b.p2p_send);
  if (r.loss_reached) out.falling = std::max(out.falling, in.activations + whole + in.loss_transient);
  if (in.recompute_transient.value > 0 && kept >= r.freed_before_largest)
    out.rising = backward_base - r.freed_before_largest + b.backward_transient + in.recompute_transient;
  return out;
}

}  // namespace trainmem::sim
