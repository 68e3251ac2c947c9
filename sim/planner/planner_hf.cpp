// --framework hf in the planner: the layouts the profile models (its own rule, hf_layout_refusal) and each variant's
// peak from the profile's step points. An hf base is a (dp, micro_batch_size) pair (tp = pp = cp = ep = 1), with a
// handful of variants (ZeRO stages the profile models x no/full checkpointing), so every variant's worst-rank peak
// is computed once when the planner is built, by estimate() itself (the profile's terms, written once, runtime
// included), and evaluate() reads it from a table: exact by construction and as fast as the megatron lookup.
#include "partition/error.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/accounting/framework_profile.hpp"
#include "sim/planner/planner.hpp"

namespace trainmem::sim {

std::uint8_t Planner::hf_zero_allowed(std::int64_t tp, std::int64_t pp, std::int64_t cp, std::int64_t ep,
                                      std::int64_t dp, std::int64_t shard_group_size) const {
  std::uint8_t mask = 0;
  for (int z = 0; z <= 3; ++z) {
    ParallelConfig p = request_.base.parallel;
    p.tp = tp, p.pp = pp, p.cp = cp, p.ep = ep, p.dp = dp, p.zero_stage = z, p.shard_group_size = shard_group_size;
    p.world_size = tp * pp * cp * dp;
    if (!hf_layout_refusal(p, request_.base.lora.enabled())) mask = static_cast<std::uint8_t>(mask | (1U << z));
  }
  return mask;
}

void Planner::compile_hf_peaks() {
  hf_first_.assign(bases_.size(), 0);
  hf_peaks_.clear();
  for (std::size_t bi = 0; bi < bases_.size(); ++bi) {
    const Options& o = options_[bases_[bi].options];
    hf_first_[bi] = static_cast<std::uint32_t>(hf_peaks_.size());
    for (int zi = 0; zi < o.num_zero; ++zi)
      for (const RecomputeChoice& rc : o.simple) {
        const PlanLayout l = layout_of(bi, false, o.zero[static_cast<std::size_t>(zi)], rc);
        hf_peaks_.push_back(estimate(scenario_for(request_, l)).max_peak);
      }
  }
}

Bytes Planner::evaluate_hf(std::size_t bi, int zero_stage, const RecomputeChoice& rc) const {
  const Options& o = options_[bases_[bi].options];
  std::size_t zi = 0;
  while (zi + 1 < static_cast<std::size_t>(o.num_zero) && o.zero[zi] != zero_stage) ++zi;
  std::size_t ri = 0;
  while (ri + 1 < o.simple.size() && o.simple[ri].granularity != rc.granularity) ++ri;
  if (o.zero[zi] != zero_stage || o.simple.empty() || o.simple[ri].granularity != rc.granularity)
    throw Error("planner: an hf variant outside the base's options");
  return hf_peaks_[hf_first_[bi] + zi * o.simple.size() + ri];
}

}  // namespace trainmem::sim
