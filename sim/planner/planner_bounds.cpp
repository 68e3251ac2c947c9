// The planner's pruning: the model-state lower bound of a base (no layout of it peaks lower, so a base whose
// bound overflows the budget is skipped whole); the monotone search over full block recompute's N is
// smallest_fitting_block() in sim/planner/plan_bounds.hpp.
#include <algorithm>

#include "sim/planner/planner.hpp"

namespace trainmem::sim {

Bytes Planner::lower_bound(const Base& b, int zero_stage, bool replay) const {
  if (hf_) {  // the profile's peaks are known: the smallest of every variant of the base (LoRA has other states)
    const auto bi = static_cast<std::size_t>(&b - bases_.data());
    const Options& o = options_[b.options];
    const std::size_t n = static_cast<std::size_t>(o.num_zero) * o.simple.size();
    Bytes least = n > 0 ? hf_peaks_[hf_first_[bi]] : Bytes(0);
    for (std::size_t i = 1; i < n; ++i) least = std::min(least, hf_peaks_[hf_first_[bi] + i]);
    return least;
  }
  const ShardPiece& S = shards_[b.shard];
  const std::uint64_t ways = b.ways, edp = b.edp;
  // The most the stage's offload choices remove (states only: checkpoint offload moves activations).
  const std::uint8_t removed = bound_mask_[static_cast<std::size_t>(zero_stage)];
  Bytes worst;
  for (std::size_t k = 0; k < (b.layout.pp == 1 ? 1 : S.dense.size()); ++k) {
    if (k == 1 && b.layout.pp < 3) continue;
    // The replay holds mixed-20's fp32 gradient copy only in the optimizer step (simulate.cpp).
    const Bytes copy = replay ? fp32_copy(S, k, zero_stage, ways, edp, removed).bytes : Bytes(0);
    worst = std::max(worst, states(S.dense[k], S.expert[k], zero_stage, ways, edp, removed) - copy);
  }
  return worst + non_model_bytes(b, Bytes(0));
}

}  // namespace trainmem::sim
