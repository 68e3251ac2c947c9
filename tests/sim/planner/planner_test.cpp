// Planner: the evaluator equals estimate() byte for byte over sweeps of every knob (dense GPT with dropout,
// GQA Llama, MoE Mixtral, other recipes/schedules), pruning never drops a fitting layout, and the
// acceptance re-check: no layout of the searched space with fewer GPUs than the --min-gpus answer fits.
#include "sim/planner/planner.hpp"

#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <set>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"
#include "plan_request.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/runtime/device_spec.hpp"

namespace trainmem::sim {
namespace {

using test::request_for;

struct Coverage {
  std::set<int> zero;
  std::set<int> recompute;  // granularity
  bool block = false, vpp = false, cp = false, sp = false, ep = false, mbs = false, pp3 = false, uneven = false;
};

// Compares every `stride`-th candidate of the space with estimate(); returns how many were compared.
std::size_t sweep(const PlanRequest& rq, std::size_t stride, Coverage& cov) {
  const Planner planner(rq);
  std::size_t i = 0, compared = 0;
  planner.for_each_candidate([&](const PlanEntry& e) {
    if (i++ % stride != 0) return;
    const auto& l = e.layout;
    SCOPED_TRACE(testing::Message() << "tp " << l.tp << " pp " << l.pp << " vpp " << l.vpp << " dp " << l.dp << " cp "
                                    << l.cp << " ep " << l.ep << " mbs " << l.micro_batch_size << " sp "
                                    << l.sequence_parallel << " zero " << l.zero_stage << " rc "
                                    << static_cast<int>(l.recompute_granularity) << "/"
                                    << static_cast<int>(l.recompute_method) << "/" << l.recompute_num_layers
                                    << " split " << l.first_stage_layers << "/" << l.last_stage_layers);
    const EstimateResult est = estimate(scenario_for(rq, l));
    ASSERT_EQ(est.max_peak.value, e.max_peak.value);
    ASSERT_EQ(est.resolved.num_microbatches, e.num_microbatches);
    ++compared;
    cov.zero.insert(l.zero_stage);
    cov.recompute.insert(static_cast<int>(l.recompute_granularity));
    cov.block |= l.recompute_method == RecomputeMethod::block;
    cov.vpp |= l.vpp > 1;
    cov.cp |= l.cp > 1;
    cov.sp |= l.sequence_parallel && l.tp > 1;
    cov.ep |= l.ep > 1;
    cov.mbs |= l.micro_batch_size > 1;
    cov.pp3 |= l.pp >= 3;
    cov.uneven |= l.first_stage_layers != 0 || l.last_stage_layers != 0;
  });
  return compared;
}

TEST(PlannerEvaluator, EqualsEstimateByteForByteOverEveryKnob) {
  struct Case {
    const char* name;
    PlanRequest rq;
    std::size_t stride;
  };
  std::vector<Case> cases;
  // GPT style (LayerNorm, learned positions, dropout 0.1, tied embeddings), mixed-16 + Adam.
  cases.push_back({"gpt-100b", request_for("gpt-100b", 4096, 1536, "h100-80gb", 256), 97});
  // GQA (8 kv heads), RMSNorm, SwiGLU, untied, no dropout; Megatron recipe.
  {
    PlanRequest r = request_for("llama3-8b", 8192, 512, "h100-80gb", 128);
    r.base.training.recipe = "megatron";
    cases.push_back({"llama3-8b megatron", r, 41});
  }
  // MoE (8 experts, top-2), expert parallel searched.
  cases.push_back({"mixtral-8x7b", request_for("mixtral-8x7b", 4096, 256, "h100-80gb", 128), 53});
  // Eager attention (s^2 scores), DeepSpeed's 20-byte recipe, 8-bit Adam.
  {
    PlanRequest r = request_for("gpt2-large", 1024, 64, "a100-40gb", 64);
    r.base.training.recipe = "deepspeed";
    r.base.training.optimizer = "adam-8bit";
    r.base.training.attention = AttentionKernel::eager;
    cases.push_back({"gpt2-large eager deepspeed adam-8bit", r, 7});
  }
  // GPipe holds every microbatch; fp32 recipe (4-byte activations).
  {
    PlanRequest r = request_for("llama2-7b", 4096, 64, "a100-80gb", 64);
    r.base.training.recipe = "fp32";
    r.base.training.pipeline_schedule = PipelineScheduleOption::gpipe;
    cases.push_back({"llama2-7b gpipe fp32", r, 13});
  }
  // Uneven pipeline splits (any pp; edges up to 4 layers lighter), GQA, no dropout.
  {
    PlanRequest r = request_for("llama2-7b", 4096, 128, "a100-40gb", 64);
    r.uneven_splits = true;
    cases.push_back({"llama2-7b uneven splits", r, 29});
  }
  // A split fixed in the base (Megatron --decoder-first/last-pipeline-num-layers): pp searched around it.
  {
    PlanRequest r = request_for("gpt-100b", 4096, 1536, "h100-80gb", 512);
    r.base.parallel.first_stage_layers = 6;
    r.base.parallel.last_stage_layers = 8;
    cases.push_back({"gpt-100b first 6 last 8", r, 11});
  }
  Coverage cov;
  std::size_t total = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::size_t n = sweep(c.rq, c.stride, cov);
    EXPECT_GT(n, 200u);
    total += n;
  }
  // The sample touched every knob.
  EXPECT_EQ(cov.zero, (std::set<int>{0, 1, 2, 3}));
  EXPECT_EQ(cov.recompute, (std::set<int>{0, 1, 2}));
  EXPECT_TRUE(cov.block && cov.vpp && cov.cp && cov.sp && cov.ep && cov.mbs && cov.pp3 && cov.uneven);
  RecordProperty("compared", static_cast<int>(total));
}

// Offload searched (opt-in): for every sampled candidate, the GPU peak and the largest node's host RAM and NVMe
// bytes equal estimate()'s max_peak and per_node totals. The sample covers every offload knob and tier, ZeRO 1-3
// under offload, gradient accumulation (m > 1: the host accumulation buffer), pipelines with checkpoint offload
// (per-stage in-flight counts) and nodes that straddle pipeline stages.
TEST(PlannerEvaluator, OffloadEqualsEstimateGpuPeakAndPerNodeHostBytes) {
  struct Case {
    const char* name;
    PlanRequest rq;
    std::size_t stride;
  };
  std::vector<Case> cases;
  {
    PlanRequest r = request_for("llama2-7b", 4096, 32, "h100-80gb", 32);
    r.offload_search = OffloadDevice::nvme;
    cases.push_back({"llama2-7b nvme", r, 17});
  }
  {
    // MoE expert shards, DeepSpeed's fp32 gradient copy (moved by name), pinned NVMe swap buffers.
    PlanRequest r = request_for("mixtral-8x7b", 4096, 64, "h100-80gb", 64);
    r.base.training.recipe = "deepspeed";
    r.base.offload.pin_memory = true;
    r.offload_search = OffloadDevice::nvme;
    cases.push_back({"mixtral-8x7b deepspeed nvme", r, 97});
  }
  {
    // Megatron's fp32 main_grad, 8-bit Adam, uneven splits, 6-GPU nodes (stages straddle nodes).
    PlanRequest r = request_for("gpt2-large", 1024, 24, "a100-40gb", 48);
    r.base.training.recipe = "megatron";
    r.base.training.optimizer = "adam-8bit";
    r.uneven_splits = true;
    r.gpus_per_node = 6;
    r.offload_search = OffloadDevice::cpu;
    cases.push_back({"gpt2-large megatron adam-8bit uneven 6 per node", r, 29});
  }
  std::set<std::string> seen;
  std::size_t total = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Planner planner(c.rq);
    ASSERT_TRUE(planner.offload_in_space());
    std::size_t i = 0, compared = 0;
    planner.for_each_candidate([&](const PlanEntry& e) {
      if (i++ % c.stride != 0) return;
      const auto& l = e.layout;
      SCOPED_TRACE(testing::Message() << "tp " << l.tp << " pp " << l.pp << " vpp " << l.vpp << " dp " << l.dp << " cp "
                                      << l.cp << " ep " << l.ep << " mbs " << l.micro_batch_size << " sp "
                                      << l.sequence_parallel << " zero " << l.zero_stage << " rc "
                                      << static_cast<int>(l.recompute_granularity) << "/" << l.recompute_num_layers
                                      << " split " << l.first_stage_layers << "/" << l.last_stage_layers << " offload "
                                      << static_cast<int>(l.offload_optimizer) << static_cast<int>(l.offload_param)
                                      << l.offload_checkpoints);
      const EstimateResult est = estimate(scenario_for(c.rq, l));
      ASSERT_EQ(est.max_peak.value, e.max_peak.value);
      ASSERT_EQ(est.per_node.host.value, e.host_per_node.value);
      ASSERT_EQ(est.per_node.nvme.value, e.nvme_per_node.value);
      ++compared;
      if (l.offload_optimizer == OffloadDevice::cpu) seen.insert("opt cpu z" + std::to_string(l.zero_stage));
      if (l.offload_optimizer == OffloadDevice::nvme) seen.insert("opt nvme");
      if (l.offload_param == OffloadDevice::cpu) seen.insert("param cpu");
      if (l.offload_param == OffloadDevice::nvme) seen.insert("param nvme");
      if (l.offload_checkpoints) seen.insert(l.pp > 1 ? "ckpt pp" : "ckpt");
      if (l.offloads() && e.num_microbatches > 1) seen.insert("m > 1");
      const std::int64_t R = l.tp * l.cp * l.dp;
      if (l.offloads() && l.pp > 1 && R % c.rq.gpus_per_node != 0 && c.rq.gpus_per_node % R != 0)
        seen.insert("straddle");
      if (l.offloads() && l.ep > 1) seen.insert("ep");
    });
    EXPECT_GT(compared, 300u);
    total += compared;
  }
  for (const char* k : {"opt cpu z1", "opt cpu z2", "opt cpu z3", "opt nvme", "param cpu", "param nvme", "ckpt",
                        "ckpt pp", "m > 1", "straddle", "ep"})
    EXPECT_TRUE(seen.count(k)) << k;
  RecordProperty("compared", static_cast<int>(total));
}

TEST(PlannerSearch, OffloadIsOptInAndTheHostCapacityDropsLayouts) {
  // Off by default: the space of a request is the same with offload_search none as before it existed, and no
  // candidate offloads.
  PlanRequest rq = request_for("llama3-8b", 8192, 64, "a100-40gb", 16);
  const Planner plain(rq);
  bool any = false;
  plain.for_each_candidate([&](const PlanEntry& e) { any |= e.layout.offloads(); });
  EXPECT_FALSE(any);
  EXPECT_FALSE(plain.offload_in_space());
  // Brute force against the pruned search with offload and a host capacity that cuts some layouts: the same
  // bases fit and each keeps the same best variant (the block-recompute binary search stays exact when the
  // checkpoint offload's host bytes rise with N).
  rq.offload_search = OffloadDevice::cpu;
  // 8.03e9 parameters x 16 bytes (fp32 master, m, v, fp32 gradients) = 119.7 GiB per node without gradient
  // accumulation; 18 bytes (+ the host accumulation buffer) = 134.6 GiB with it: 128 GiB cuts the latter.
  rq.host_memory_per_node = Bytes(128ULL * kGiB);
  const Planner planner(rq);
  EXPECT_GT(planner.candidate_count(), plain.candidate_count());
  std::map<decltype(std::make_tuple(1, 1, 1, 1, 1, 1, 1, 1, 1)), PlanEntry> best;
  std::uint64_t all = 0, over_host = 0;
  planner.for_each_candidate([&](const PlanEntry& e) {
    ++all;
    if (e.max_peak > planner.budget()) return;
    if (e.host_per_node > rq.host_memory_per_node || e.nvme_per_node > rq.nvme_per_node) {
      ++over_host;
      return;
    }
    const auto& l = e.layout;
    const auto key =
        std::make_tuple(static_cast<int>(l.tp), static_cast<int>(l.pp), static_cast<int>(l.vpp), static_cast<int>(l.cp),
                        static_cast<int>(l.ep), static_cast<int>(l.dp), static_cast<int>(l.micro_batch_size),
                        static_cast<int>(l.first_stage_layers), static_cast<int>(l.last_stage_layers));
    auto [it, fresh] = best.emplace(key, e);
    if (!fresh && plan_entry_less(e, it->second)) it->second = e;
  });
  ASSERT_GT(over_host, 0u) << "the capacity should cut some layouts";
  PlanSearchOptions opt;
  opt.top = 1000000;
  opt.stop_early = false;
  const PlanResult r = planner.search(opt);
  EXPECT_EQ(r.counts.candidates, all);
  EXPECT_EQ(r.counts.evaluated + r.counts.pruned_by_bound + r.counts.pruned_monotone, all);
  EXPECT_GT(r.counts.over_host, 0u);
  ASSERT_EQ(r.layouts.size(), best.size());
  bool offloaded = false;
  for (const auto& e : r.layouts) {
    const auto& l = e.layout;
    const auto it = best.find(
        std::make_tuple(static_cast<int>(l.tp), static_cast<int>(l.pp), static_cast<int>(l.vpp), static_cast<int>(l.cp),
                        static_cast<int>(l.ep), static_cast<int>(l.dp), static_cast<int>(l.micro_batch_size),
                        static_cast<int>(l.first_stage_layers), static_cast<int>(l.last_stage_layers)));
    ASSERT_NE(it, best.end());
    EXPECT_EQ(it->second.layout, l);
    EXPECT_LE(e.host_per_node, rq.host_memory_per_node);
    offloaded |= l.offloads();
  }
  EXPECT_TRUE(offloaded);
  // On as many GPUs, a layout without offload ranks before one with offload.
  for (std::size_t i = 1; i < r.layouts.size(); ++i) {
    if (r.layouts[i - 1].layout.world_size() == r.layouts[i].layout.world_size()) {
      EXPECT_FALSE(r.layouts[i - 1].layout.offloads() && !r.layouts[i].layout.offloads());
    }
  }
}

TEST(PlannerRequest, FixedOffloadKnobsThatNoRuleAllowsNameTheKnob) {
  PlanRequest r = request_for("llama2-7b", 4096, 64, "h100-80gb", 64);
  r.fixed.offload_param = OffloadDevice::cpu;
  r.fixed.zero_stage = 2;  // parameter offload needs ZeRO-3
  try {
    Planner p(r);
    FAIL() << "offload_param at zero 2 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("offload_param = cpu"), std::string::npos) << e.what();
  }
  r = request_for("llama2-7b", 4096, 64, "h100-80gb", 64);
  r.fixed.offload_checkpoints = true;
  r.fixed.recompute_granularity = RecomputeGranularity::selective;
  EXPECT_THROW(Planner{r}, ConfigError);
  // A fixed knob fixes it: every candidate offloads the optimizer to the CPU, at ZeRO >= 1.
  r = request_for("llama2-7b", 4096, 64, "h100-80gb", 64);
  r.base.offload.optimizer = OffloadDevice::cpu;
  const Planner p(r);
  std::uint64_t n = 0;
  p.for_each_candidate([&](const PlanEntry& e) {
    ++n;
    EXPECT_EQ(e.layout.offload_optimizer, OffloadDevice::cpu);
    EXPECT_EQ(e.layout.offload_param, OffloadDevice::none);
    EXPECT_GE(e.layout.zero_stage, 1);
  });
  EXPECT_GT(n, 0u);
}

// Key of a base: everything but sequence_parallel, zero_stage and recompute (etp included: searched for MoE).
auto base_key(const PlanLayout& l) {
  return std::make_tuple(l.tp, l.pp, l.vpp, l.cp, l.ep, l.etp, l.dp, l.micro_batch_size, l.first_stage_layers,
                         l.last_stage_layers);
}

TEST(PlannerSearch, PruningNeverDropsAFittingLayout) {
  // Brute force over every candidate (no pruning, no early stop) against the pruned search: the same bases
  // fit, and the search keeps each base's best variant.
  for (const auto& [preset, seq, gbs, gpu, max] : {std::make_tuple("gpt-100b", 4096, 1536, "h100-80gb", 512),
                                                   std::make_tuple("llama3-8b", 8192, 256, "a100-40gb", 64),
                                                   std::make_tuple("mixtral-8x7b", 4096, 256, "h100-80gb", 64)}) {
    SCOPED_TRACE(preset);
    PlanRequest rq = request_for(preset, seq, gbs, gpu, max);
    rq.uneven_splits = std::string(preset) == "llama3-8b";  // one request with uneven splits too
    const Planner planner(rq);
    std::map<decltype(base_key(PlanLayout{})), PlanEntry> best;
    std::uint64_t fitting = 0, all = 0;
    planner.for_each_candidate([&](const PlanEntry& e) {
      ++all;
      if (e.max_peak > planner.budget()) return;
      ++fitting;
      auto [it, fresh] = best.emplace(base_key(e.layout), e);
      if (!fresh && plan_entry_less(e, it->second)) it->second = e;
    });
    ASSERT_GT(fitting, 0u);
    PlanSearchOptions opt;
    opt.top = 1000000;
    opt.stop_early = false;
    const PlanResult r = planner.search(opt);
    EXPECT_EQ(r.counts.candidates, all);
    EXPECT_EQ(r.counts.candidates, planner.candidate_count());
    EXPECT_EQ(r.counts.evaluated + r.counts.pruned_by_bound + r.counts.pruned_monotone, all);
    ASSERT_EQ(r.layouts.size(), best.size());
    for (const auto& e : r.layouts) {
      const auto it = best.find(base_key(e.layout));
      ASSERT_NE(it, best.end());
      EXPECT_EQ(it->second.layout, e.layout);
      EXPECT_EQ(it->second.max_peak, e.max_peak);
    }
    // Ranked: fewest GPUs first.
    for (std::size_t i = 1; i < r.layouts.size(); ++i) EXPECT_FALSE(plan_entry_less(r.layouts[i], r.layouts[i - 1]));
    // The early-stopping search returns the head of the same ranking.
    opt.top = 10;
    opt.stop_early = true;
    const PlanResult head = planner.search(opt);
    ASSERT_EQ(head.layouts.size(), std::min<std::size_t>(10, r.layouts.size()));
    for (std::size_t i = 0; i < head.layouts.size(); ++i) EXPECT_EQ(head.layouts[i].layout, r.layouts[i].layout);
  }
}

TEST(PlannerSearch, SlicesMergeToTheSingleProcessResult) {
  const Planner planner(request_for("gpt-100b", 4096, 1536, "h100-80gb", 4096));
  for (bool min_gpus : {false, true}) {
    PlanSearchOptions opt;
    opt.min_gpus = min_gpus;
    const PlanResult one = planner.search(opt);
    for (int slices : {2, 3}) {
      // Emulate the all-reduce: each slice's fitting count per group summed over slices. Slices run one
      // after another here, so the sum is taken from a first pass that records each slice's counts.
      std::vector<PlanResult> parts;
      std::vector<std::vector<std::uint64_t>> per_group(static_cast<std::size_t>(slices));
      for (int s = 0; s < slices; ++s) {
        PlanSearchOptions o = opt;
        o.slice = s, o.slices = slices;  // never told to stop: records the cumulative count per group
        planner.search(o, [&](std::uint64_t v) {
          per_group[static_cast<std::size_t>(s)].push_back(v);
          return std::uint64_t{0};
        });
      }
      for (int s = 0; s < slices; ++s) {
        PlanSearchOptions o = opt;
        o.slice = s, o.slices = slices;
        std::size_t group = 0;
        parts.push_back(planner.search(o, [&](std::uint64_t) {
          std::uint64_t sum = 0;
          for (const auto& g : per_group) sum += g[group];
          ++group;
          return sum;
        }));
      }
      const PlanResult merged = merge_plan_results(parts, opt);
      ASSERT_EQ(merged.layouts.size(), one.layouts.size());
      for (std::size_t i = 0; i < one.layouts.size(); ++i) EXPECT_EQ(merged.layouts[i].layout, one.layouts[i].layout);
      EXPECT_EQ(merged.counts.evaluated, one.counts.evaluated);
      EXPECT_EQ(merged.counts.not_visited, one.counts.not_visited);
      EXPECT_EQ(merged.counts.candidates, one.counts.candidates);
    }
  }
}

TEST(PlannerAcceptance, MinGpusFor100BOnH100AndNoSmallerLayoutFitsPerEstimate) {
  // trainmem plan --model gpt-100b --gpu h100-80gb --seq-length 4096 --global-batch-size 1536 --min-gpus
  const PlanRequest rq = request_for("gpt-100b", 4096, 1536, "h100-80gb", 4096);
  const Planner planner(rq);
  PlanSearchOptions opt;
  opt.min_gpus = true;
  const PlanResult r = planner.search(opt);
  ASSERT_FALSE(r.layouts.empty());
  const PlanEntry& answer = r.layouts.front();
  const std::int64_t w = answer.layout.world_size();
  // The answer fits per estimate() with the 10% margin.
  const EstimateResult est = estimate(scenario_for(rq, answer.layout));
  EXPECT_EQ(est.max_peak, answer.max_peak);
  EXPECT_LE(est.max_peak, planner.budget());
  // Hand bound: model states alone are 16 bytes x 100,x B parameters (mixed-16 + Adam), at best spread over
  // all GPUs (ZeRO-3 or tp*pp): w >= 16 * params / budget, rounded up to whole 8-GPU nodes.
  const auto params = total_parameters(*planner.resolved_base().scenario.model).value;
  const std::uint64_t lower = (16 * params + planner.budget().value - 1) / planner.budget().value;
  EXPECT_GE(static_cast<std::uint64_t>(w), lower);
  // Exhaustive re-check: every layout of the space on fewer GPUs does not fit per estimate(). The dev build
  // (the README's test command, CI's first stage) checks all of them; the ASan+UBSan build, about 30x slower,
  // checks every 16th so that it still exercises the same code paths for memory errors within the timeout.
#ifdef TRAINMEM_SANITIZED
  constexpr std::uint64_t kStride = 16;
#else
  constexpr std::uint64_t kStride = 1;
#endif
  std::uint64_t checked = 0, seen = 0;
  planner.for_each_candidate([&](const PlanEntry& e) {
    if (e.layout.world_size() >= w) return;
    if (seen++ % kStride != 0) return;
    const EstimateResult x = estimate(scenario_for(rq, e.layout));
    ASSERT_GT(x.max_peak, planner.budget()) << "tp " << e.layout.tp << " pp " << e.layout.pp << " dp " << e.layout.dp;
    ++checked;
  });
  EXPECT_GT(checked, 1000u);
  EXPECT_EQ(checked, (seen + kStride - 1) / kStride);
  RecordProperty("min_gpus", static_cast<int>(w));
  RecordProperty("checked_smaller_layouts", static_cast<int>(checked));
  std::cout << "min gpus " << w << " (tp " << answer.layout.tp << " pp " << answer.layout.pp << " dp "
            << answer.layout.dp << " vpp " << answer.layout.vpp << " zero " << answer.layout.zero_stage << "), "
            << checked << " smaller layouts re-checked with estimate()\n";
}

TEST(PlanSpace, LayoutOfScenarioInvertsScenarioFor) {
  // --why-not reads the layout back from the scenario the user gave: every knob must survive the round trip
  // (etp 0 stands for etp = tp in both directions).
  const PlanRequest rq = request_for("mixtral-8x7b", 4096, 256, "h100-80gb", 128);
  PlanLayout l;
  l.tp = 4, l.pp = 4, l.dp = 2, l.cp = 2, l.ep = 8, l.etp = 2, l.vpp = 2, l.micro_batch_size = 2;
  l.sequence_parallel = true;
  l.zero_stage = 1;
  l.recompute_granularity = RecomputeGranularity::full;
  l.recompute_method = RecomputeMethod::block;
  l.recompute_num_layers = 3;
  l.offload_optimizer = OffloadDevice::cpu;
  l.offload_checkpoints = true;
  EXPECT_EQ(layout_of_scenario(scenario_for(rq, l)), l);
  PlanLayout uneven;
  uneven.tp = 8, uneven.pp = 4, uneven.first_stage_layers = 6, uneven.last_stage_layers = 7, uneven.etp = 0;
  uneven.zero_stage = 3;
  uneven.offload_param = OffloadDevice::nvme;
  EXPECT_EQ(layout_of_scenario(scenario_for(rq, uneven)), uneven);
  PlanLayout same_etp = l;
  same_etp.etp = l.tp;  // given explicitly equal to tp: reads back as 0
  EXPECT_EQ(layout_of_scenario(scenario_for(rq, same_etp)).etp, 0);
}

TEST(PlanBudget, KeepsTheMarginFreeRoundingTheReserveUp) {
  // h100-80gb: 81559 MiB = 85,520,809,984 bytes; 10% reserve = ceil(8,552,080,998.4) = 8,552,080,999.
  EXPECT_EQ(plan_budget(Bytes(81559ULL * kMiB), 100000).value, 85520809984ULL - 8552080999ULL);
  EXPECT_EQ(plan_budget(Bytes(1000), 0).value, 1000u);
  EXPECT_EQ(plan_budget(Bytes(1000), 500000).value, 500u);
  EXPECT_THROW(plan_budget(Bytes(1000), 1000000), ConfigError);
}

TEST(PlanCost, BubbleRecomputeAndCommunicationByHand) {
  // A GPT layer with h = 1024, 16 heads, ffn 4096, vocab 51200, s = 2048, 24 layers, biases.
  ModelSpec m;
  m.num_layers = 24, m.hidden_size = 1024, m.num_attention_heads = 16, m.vocab_size = 51200;
  TrainingConfig t;
  t.seq_length = 2048;
  t.global_batch_size = 64;
  const PlanCostModel model(m, t, 2, 2, 8);
  PlanLayout l;
  l.tp = 2, l.pp = 4, l.dp = 2, l.vpp = 2, l.micro_batch_size = 1;
  const PlanCost c = model.cost(l, 32, 1e8, 0);
  // Bubble (Narayanan 2021): (pp - 1) / (m * vpp) = 3 / 64.
  EXPECT_DOUBLE_EQ(c.bubble, 3.0 / 64.0);
  EXPECT_DOUBLE_EQ(c.recompute, 0.0);
  // TP: m * layers/pp * 4 all-reduces * 2 (t-1)/t * (s b h * 2 bytes) = 32 * 6 * 4 * 1 * 4 MiB.
  EXPECT_DOUBLE_EQ(c.tp_bytes, 32.0 * 6 * 4 * 1.0 * (2048.0 * 1024 * 2));
  // PP: m * vpp * 2 sends of the activation / tp = 32 * 2 * 2 * 4 MiB / 2.
  EXPECT_DOUBLE_EQ(c.pp_bytes, 32.0 * 2 * 2 * (2048.0 * 1024 * 2) / 2);
  // DP (ZeRO 0): all-reduce of 1e8 bf16 gradients over dp * cp = 2: 2 * (1/2) * 1e8 * 2 bytes.
  EXPECT_DOUBLE_EQ(c.dp_bytes, 2e8);
  // Full recompute of every layer: one more forward of the layers over 3 forwards of layers + head.
  // Layer forward FLOPs per token: 2 * 12,596,224 parameters (12h^2 + 13h) + 4 s h (attention core).
  l.recompute_granularity = RecomputeGranularity::full;
  l.recompute_num_layers = 1;
  const double layer = 2.0 * (12.0 * 1024 * 1024 + 13 * 1024) + 4.0 * 2048 * 1024;
  const double step = 3.0 * (24 * layer + 2.0 * 1024 * 51200);
  EXPECT_NEAR(model.cost(l, 32, 1e8, 0).recompute, 24 * layer / step, 1e-12);
  // ZeRO-3 (pp 1): 3 m psi; ZeRO-2: (m + 1) psi, each x (g-1)/g x 2 bytes.
  l.pp = 1, l.vpp = 1, l.recompute_granularity = RecomputeGranularity::none;
  l.zero_stage = 3;
  EXPECT_DOUBLE_EQ(model.cost(l, 32, 1e8, 0).dp_bytes, 3.0 * 32 * 0.5 * 1e8 * 2);
  l.zero_stage = 2;
  EXPECT_DOUBLE_EQ(model.cost(l, 32, 1e8, 0).dp_bytes, 33.0 * 0.5 * 1e8 * 2);
  EXPECT_DOUBLE_EQ(model.cost(l, 32, 1e8, 0).offload, 0.0);

  // Optimizer offload to the CPU (tp 2, pp 1, dp 2: 4 GPUs, one node): the shard is 1e8 / dp = 5e7
  // parameters; PCIe moves the gradient partition down every microbatch and the parameters up once,
  // (32 + 1) x 2 bytes x 5e7 = 3.3e9 bytes at 63 GB/s; the node's CPU updates 4 ranks x 5e7 parameters at
  // 5e9 per second. Compute: step FLOPs per token x 64 x 2048 tokens / 4 GPUs / 400 TFLOP/s.
  l.offload_optimizer = OffloadDevice::cpu;
  const PlanCost off = model.cost(l, 32, 1e8, 0);
  EXPECT_DOUBLE_EQ(off.pcie_bytes, 33.0 * 2 * 5e7);
  const double compute = step * 64 * 2048 / 4 / 400e12;
  EXPECT_NEAR(off.offload, (3.3e9 / 63e9 + 4 * 5e7 / 5e9) / compute, 1e-12);
  EXPECT_NEAR(off.total, model.cost(l, 32, 1e8, 0).total, 0.0);
  l.offload_optimizer = OffloadDevice::none;
  EXPECT_NEAR(off.total - model.cost(l, 32, 1e8, 0).total, off.offload, 1e-12);
  // Checkpoint offload, full recompute of every layer (24 checkpoints per microbatch, vpp 1): each goes down
  // and back up: 2 x 32 x 24 x 4 MiB.
  l.recompute_granularity = RecomputeGranularity::full, l.recompute_num_layers = 1;
  l.offload_checkpoints = true;
  EXPECT_DOUBLE_EQ(model.cost(l, 32, 1e8, 0, 2048.0 * 1024 * 2).pcie_bytes, 2.0 * 32 * 24 * (2048.0 * 1024 * 2));
}

TEST(PlannerRequest, FixedKnobsThatNoRuleAllowsNameTheKnob) {
  PlanRequest r = request_for("gpt-100b", 4096, 1536, "h100-80gb", 4096);
  r.fixed.tp = 3;
  try {
    Planner p(r);
    FAIL() << "tp 3 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor_model_parallel_size = 3"), std::string::npos) << e.what();
  }
  r = request_for("gpt-100b", 4096, 1536, "h100-80gb", 4096);
  r.base.gpu_memory.reset();
  EXPECT_THROW(Planner{r}, ConfigError);
  r = request_for("gpt-100b", 4096, 1536, "h100-80gb", 4096);
  r.fixed.pp = 4;
  r.fixed.vpp = 3;  // 80 / 4 = 20 layers per stage: not divisible by 3
  EXPECT_THROW(Planner{r}, ConfigError);
}

}  // namespace
}  // namespace trainmem::sim
