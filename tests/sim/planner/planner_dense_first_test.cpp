// The planner on MoE models whose first layers are dense (DeepSeek first_k_dense_replace): a pipeline stage's
// parameters depend on which layers it holds, so the middle stages differ until the last one holding a dense layer.
// Every sampled candidate's worst-rank peak (and, with offload, per-node host and NVMe bytes) equals estimate()'s,
// which walks every stage; and the pruned search keeps the brute force's best layout of every base.
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "partition/model_presets.hpp"
#include "plan_request.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/planner/planner.hpp"

namespace trainmem::sim {
namespace {

using test::request_for;

// deepseek-v2-lite (27 layers, 64 experts) with its first `dense` layers dense.
PlanRequest lite(std::int64_t dense, std::int64_t gbs, const char* gpu, std::int64_t max_gpus) {
  PlanRequest r = request_for("deepseek-v2-lite", 4096, gbs, gpu, max_gpus);
  r.base.model->first_dense_layers = dense;
  return r;
}

struct Seen {
  bool deep_pipeline = false, vpp = false, uneven = false, offload = false;
};

std::size_t sweep(const PlanRequest& rq, std::size_t stride, Seen& seen) {
  const Planner planner(rq);
  std::size_t i = 0, compared = 0;
  planner.for_each_candidate([&](const PlanEntry& e) {
    if (i++ % stride != 0) return;
    const PlanLayout& l = e.layout;
    SCOPED_TRACE(testing::Message() << "tp " << l.tp << " pp " << l.pp << " vpp " << l.vpp << " dp " << l.dp << " cp "
                                    << l.cp << " ep " << l.ep << " mbs " << l.micro_batch_size << " zero "
                                    << l.zero_stage << " split " << l.first_stage_layers << "/" << l.last_stage_layers
                                    << " offload " << static_cast<int>(l.offload_optimizer)
                                    << static_cast<int>(l.offload_param) << l.offload_checkpoints);
    const EstimateResult est = estimate(scenario_for(rq, l));
    ASSERT_EQ(est.max_peak.value, e.max_peak.value);
    ASSERT_EQ(est.per_node.host.value, e.host_per_node.value);
    ASSERT_EQ(est.per_node.nvme.value, e.nvme_per_node.value);
    ++compared;
    seen.deep_pipeline |= l.pp >= 9;
    seen.vpp |= l.vpp > 1 && l.pp >= 9;
    seen.uneven |= l.first_stage_layers != 0 || l.last_stage_layers != 0;
    seen.offload |= l.offloads() && l.pp >= 9;
  });
  return compared;
}

TEST(PlannerDenseFirst, EveryStageClassEqualsEstimate) {
  Seen seen;
  // 5 dense layers: with 1 or 3 layers per stage (pp 27, pp 9, pp 9 x vpp 3) stages 1 to 5 hold dense layers.
  EXPECT_GT(sweep(lite(5, 216, "a100-40gb", 216), 17, seen), 150u);
  // DeepSeek-V2's shape (1 dense layer), uneven splits.
  {
    PlanRequest r = lite(1, 64, "h100-80gb", 64);
    r.uneven_splits = true;
    EXPECT_GT(sweep(r, 47, seen), 150u);
  }
  // Offload: per-node host bytes add every stage's offloaded states.
  {
    PlanRequest r = lite(5, 216, "a100-40gb", 216);
    r.offload_search = OffloadDevice::cpu;
    r.gpus_per_node = 4;
    EXPECT_GT(sweep(r, 67, seen), 150u);
  }
  EXPECT_TRUE(seen.deep_pipeline && seen.vpp && seen.uneven && seen.offload);
}

TEST(PlannerDenseFirst, PrunedSearchKeepsTheBruteForceBestOfEveryBase) {
  const PlanRequest rq = lite(5, 216, "a100-40gb", 216);
  const Planner planner(rq);
  auto key = [](const PlanLayout& l) {
    return std::make_tuple(l.tp, l.pp, l.vpp, l.cp, l.ep, l.etp, l.dp, l.micro_batch_size, l.first_stage_layers,
                           l.last_stage_layers);
  };
  std::map<decltype(key(PlanLayout{})), PlanEntry> best;
  planner.for_each_candidate([&](const PlanEntry& e) {
    if (e.max_peak > planner.budget()) return;
    auto [it, fresh] = best.emplace(key(e.layout), e);
    if (!fresh && plan_entry_less(e, it->second)) it->second = e;
  });
  ASSERT_GT(best.size(), 10u);
  PlanSearchOptions opt;
  opt.top = 1000000;
  opt.stop_early = false;
  const PlanResult r = planner.search(opt);
  ASSERT_EQ(r.layouts.size(), best.size());
  for (const PlanEntry& e : r.layouts) {
    const auto it = best.find(key(e.layout));
    ASSERT_NE(it, best.end());
    EXPECT_EQ(it->second.layout, e.layout);
    EXPECT_EQ(it->second.max_peak, e.max_peak);
  }
}

}  // namespace
}  // namespace trainmem::sim
