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

}  // namespace trainmem::sim
