// The planner under --framework hf (sim/planner/planner_hf.cpp): it searches only the layouts the profile models
// (its own rule, hf_layout_refusal: dp with tp = pp = cp = ep = 1; zero_stage 1 = DDP + ZeroRedundancyOptimizer,
// 2 / 3 = FSDP2, except under LoRA), every candidate's and
// every planned layout's peak is estimate()'s for that layout byte for byte, and a brute force over a small space
// finds exactly the layouts the search keeps.
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "partition/error.hpp"
#include "plan_request.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/planner/planner.hpp"

namespace trainmem::sim {
namespace {

using test::request_for;

PlanRequest hf_request(const std::string& preset, std::int64_t seq, std::int64_t gbs, const std::string& gpu,
                       std::int64_t max_gpus) {
  PlanRequest r = request_for(preset, seq, gbs, gpu, max_gpus);
  r.base.training.framework = Framework::hf;
  r.base.parallel.make_vocab_size_divisible_by = 1;  // what --framework hf sets
  r.max_micro_batch_size = 16;
  return r;
}

std::vector<std::pair<const char*, PlanRequest>> hf_cases() {
  std::vector<std::pair<const char*, PlanRequest>> v;
  v.emplace_back("qwen2-0.5b bf16 foreach", hf_request("qwen2-0.5b", 2048, 64, "h100-80gb", 16));
  {
    PlanRequest r = hf_request("qwen2-0.5b", 4096, 32, "a100-40gb", 32);
    r.base.training.recipe = "amp";
    r.base.training.optimizer_impl = OptimizerImpl::fused;
    v.emplace_back("qwen2-0.5b amp fused", r);
  }
  {
    PlanRequest r = hf_request("gpt2", 1024, 32, "a100-40gb", 8);
    r.base.training.recipe = "fp32";
    r.base.training.optimizer_impl = OptimizerImpl::for_loop;
    v.emplace_back("gpt2 fp32 for-loop", r);
  }
  {
    PlanRequest r = hf_request("llama2-7b", 4096, 16, "a100-40gb", 8);
    r.base.lora.rank = 16;
    v.emplace_back("llama2-7b lora", r);
  }
  return v;
}

TEST(PlannerHf, EveryCandidateEqualsEstimateAndIsALayoutTheProfileModels) {
  for (const auto& [name, rq] : hf_cases()) {
    SCOPED_TRACE(name);
    const Planner planner(rq);
    std::size_t n = 0;
    bool dp = false, mbs = false, ckpt = false, accum = false, sharded = false;
    planner.for_each_candidate([&](const PlanEntry& e) {
      const PlanLayout& l = e.layout;
      SCOPED_TRACE(testing::Message() << "dp " << l.dp << " mbs " << l.micro_batch_size << " rc "
                                      << static_cast<int>(l.recompute_granularity));
      EXPECT_EQ(l.tp * l.pp * l.cp * l.ep * l.vpp, 1);
      if (rq.base.lora.enabled()) {
        EXPECT_EQ(l.zero_stage, 0);  // LoRA under ZeRO / FSDP is not modelled
      }
      EXPECT_NE(l.recompute_granularity, RecomputeGranularity::selective);
      const EstimateResult est = estimate(scenario_for(rq, l));
      ASSERT_TRUE(est.classes[0].framework_step.has_value());
      EXPECT_EQ(est.max_peak.value, e.max_peak.value);
      EXPECT_EQ(est.resolved.num_microbatches, e.num_microbatches);
      dp |= l.dp > 1, mbs |= l.micro_batch_size > 1, accum |= e.num_microbatches > 1;
      ckpt |= l.recompute_granularity == RecomputeGranularity::full;
      sharded |= l.zero_stage > 0;
      ++n;
    });
    EXPECT_GT(n, 4U);
    EXPECT_TRUE(dp && mbs && ckpt && accum);
    EXPECT_EQ(sharded, !rq.base.lora.enabled());  // ZeRO 1-3 searched where the profile models them
  }
}

// Brute force: every (dp, micro_batch_size, checkpointing) of the space by estimate() alone; the layouts that fit
// the budget are exactly the search's fitting variants, and each planned layout's peak is estimate()'s.
TEST(PlannerHf, SearchMatchesBruteForce) {
  for (const auto& [name, rq] : hf_cases()) {
    SCOPED_TRACE(name);
    const Planner planner(rq);
    const std::int64_t gbs = rq.base.training.global_batch_size;
    std::set<std::tuple<std::int64_t, std::int64_t, int, int>> fit_brute, fit_plan;
    for (std::int64_t mbs = 1; mbs <= rq.max_micro_batch_size; mbs *= 2)
      for (std::int64_t dp = 1; dp <= rq.max_gpus; ++dp) {
        if (gbs % (mbs * dp) != 0 || !(dp % rq.gpus_per_node == 0 || rq.gpus_per_node % dp == 0)) continue;
        for (int z = 0; z <= 3; ++z) {
          if (rq.base.lora.enabled() && z > 0) continue;  // LoRA under ZeRO / FSDP is not modelled
          for (auto g : {RecomputeGranularity::none, RecomputeGranularity::full}) {
            PlanLayout l;
            l.dp = dp, l.micro_batch_size = mbs, l.recompute_granularity = g, l.zero_stage = z;
            l.recompute_num_layers = g == RecomputeGranularity::full ? 1 : 0;
            if (estimate(scenario_for(rq, l)).max_peak <= planner.budget())
              fit_brute.emplace(dp, mbs, static_cast<int>(g), z);
          }
        }
      }
    for (std::size_t b = 0; b < planner.num_bases(); ++b)
      for (const PlanEntry& e : planner.fitting_variants(b)) {
        const PlanLayout& l = e.layout;
        fit_plan.emplace(l.dp, l.micro_batch_size, static_cast<int>(l.recompute_granularity), l.zero_stage);
        EXPECT_EQ(estimate(scenario_for(rq, l)).max_peak.value, e.max_peak.value);
      }
    EXPECT_EQ(fit_brute, fit_plan);
    EXPECT_FALSE(fit_plan.empty());
    PlanSearchOptions opt;
    opt.top = 100;
    opt.stop_early = false;
    const PlanResult res = planner.search(opt);
    ASSERT_FALSE(res.layouts.empty());
    for (const PlanEntry& e : res.layouts) {
      EXPECT_EQ(estimate(scenario_for(rq, e.layout)).max_peak.value, e.max_peak.value);
      EXPECT_TRUE(fit_plan.count({e.layout.dp, e.layout.micro_batch_size,
                                  static_cast<int>(e.layout.recompute_granularity), e.layout.zero_stage}));
    }
  }
}

TEST(PlannerHf, FixedKnobsTheProfileRefusesNameTheField) {
  auto field_of = [](PlanRequest rq) -> std::string {
    try {
      const Planner p(std::move(rq));
    } catch (const ConfigError& e) {
      return e.field();
    }
    return "";
  };
  PlanRequest tp = hf_request("qwen2-0.5b", 2048, 64, "h100-80gb", 16);
  tp.fixed.tp = 2;
  EXPECT_EQ(field_of(tp), "framework");
  PlanRequest z = hf_request("qwen2-0.5b", 2048, 64, "h100-80gb", 16);
  z.fixed.zero_stage = 1;
  EXPECT_EQ(field_of(z), "");  // DDP + ZeroRedundancyOptimizer is modelled
  z.base.lora.rank = 8;
  EXPECT_EQ(field_of(z), "zero_stage");  // ... but not with LoRA
  PlanRequest off = hf_request("qwen2-0.5b", 2048, 64, "h100-80gb", 16);
  off.offload_search = OffloadDevice::cpu;
  EXPECT_EQ(field_of(off), "offload_optimizer");
}

}  // namespace
}  // namespace trainmem::sim
