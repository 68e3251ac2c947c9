// Planner knobs of issue 18: Ulysses sequence parallelism, uniform recompute groups of N > 1 layers, HSDP shard
// groups and uneven splits beyond 4 layers. Each is checked three ways: the evaluator equals estimate() byte for
// byte on the new layouts, the searched values are the hand-derived ones, and the search's top-k equals a brute
// force over the whole space replayed with estimate() (not the planner's evaluator) for a small model.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "partition/error.hpp"
#include "plan_request.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/planner/planner.hpp"

namespace trainmem::sim {
namespace {

using test::request_for;

// gpt2 (12 layers, 12 heads, h 768), seq 1024, 64 sequences, on up to 16 GPUs with 3 GiB each: some layouts fit,
// many do not. Every new knob searched.
PlanRequest small_request() {
  PlanRequest r = request_for("gpt2", 1024, 64, Bytes(3ULL << 30), 16);
  r.max_ulysses_sp = 4;
  r.search_shard_groups = true;
  r.uneven_splits = true;
  r.uneven_max_delta = 12;  // the whole range: first / last stage from 1 layer to a middle stage's
  r.max_micro_batch_size = 4;
  r.max_cp = 2;
  return r;
}

std::string describe(const PlanLayout& l) {
  std::string s;
  for (const auto& f : layout_flags(l)) s += f + " ";
  return s;
}

auto base_key(const PlanLayout& l) {
  return std::make_tuple(l.tp, l.pp, l.vpp, l.cp, l.ep, l.dp, l.micro_batch_size, l.first_stage_layers,
                         l.last_stage_layers, l.ulysses_sp, l.shard_group_size);
}

TEST(PlannerKnobs, EvaluatorEqualsEstimateOnEveryNewKnob) {
  const PlanRequest rq = small_request();
  const Planner planner(rq);
  bool ulysses = false, group = false, hsdp = false, wide = false;
  std::size_t compared = 0, i = 0;
  planner.for_each_candidate([&](const PlanEntry& e) {
    const PlanLayout& l = e.layout;
    const bool uniform_group = l.recompute_granularity == RecomputeGranularity::full &&
                               l.recompute_method == RecomputeMethod::uniform && l.recompute_num_layers > 1;
    const bool wide_split = l.first_stage_layers != 0 && std::abs(l.first_stage_layers - l.last_stage_layers) > 4;
    // Every layout with a new knob, a sample of the rest.
    if (!(l.ulysses_sp > 1 || uniform_group || l.shard_group_size != 0 || wide_split) && i++ % 17 != 0) return;
    SCOPED_TRACE(describe(l));
    const EstimateResult est = estimate(scenario_for(rq, l));
    ASSERT_EQ(est.max_peak.value, e.max_peak.value);
    ASSERT_EQ(est.resolved.num_microbatches, e.num_microbatches);
    ulysses |= l.ulysses_sp > 1, group |= uniform_group, hsdp |= l.shard_group_size != 0, wide |= wide_split;
    ++compared;
  });
  EXPECT_TRUE(ulysses && group && hsdp && wide);
  EXPECT_GT(compared, 1000u);
  RecordProperty("compared", static_cast<int>(compared));
}

TEST(PlannerKnobs, TopKEqualsBruteForceReplayedWithEstimate) {
  const PlanRequest rq = small_request();
  const Planner planner(rq);
  // Brute force: every candidate's peak by estimate(), each base's best fitting variant, ranked.
  std::map<decltype(base_key(PlanLayout{})), PlanEntry> best;
  std::uint64_t all = 0;
  planner.for_each_candidate([&](const PlanEntry& e) {
    ++all;
    PlanEntry x = e;
    x.max_peak = estimate(scenario_for(rq, e.layout)).max_peak;
    if (x.max_peak > planner.budget()) return;
    auto [it, fresh] = best.emplace(base_key(x.layout), x);
    if (!fresh && plan_entry_less(x, it->second)) it->second = x;
  });
  std::vector<PlanEntry> ranked;
  for (const auto& [k, e] : best) ranked.push_back(e);
  std::sort(ranked.begin(), ranked.end(), plan_entry_less);
  ASSERT_GT(ranked.size(), 20u);
  // The new knobs reach the fitting set (else the comparison below would not test them).
  bool ulysses = false, hsdp = false, group = false;
  for (const auto& e : ranked) {
    ulysses |= e.layout.ulysses_sp > 1, hsdp |= e.layout.shard_group_size != 0;
    group |= e.layout.recompute_method == RecomputeMethod::uniform && e.layout.recompute_num_layers > 1;
  }
  EXPECT_TRUE(ulysses && hsdp && group);

  for (bool stop_early : {true, false}) {
    PlanSearchOptions opt;
    opt.top = stop_early ? 10 : 1000000;
    opt.stop_early = stop_early;
    const PlanResult r = planner.search(opt);
    EXPECT_EQ(r.counts.candidates, all);
    const std::size_t k = std::min(opt.top, ranked.size());
    ASSERT_EQ(r.layouts.size(), k);
    for (std::size_t j = 0; j < k; ++j) {
      SCOPED_TRACE(describe(ranked[j].layout));
      EXPECT_EQ(r.layouts[j].layout, ranked[j].layout);
      EXPECT_EQ(r.layouts[j].max_peak, ranked[j].max_peak);
    }
  }
}

// Expert tensor parallelism: for an MoE model every divisor of tp is tried as etp (Mixtral's expert ffn 14,336 is
// divisible by 1, 2, 4 and 8), so tp in {1, 2, 4, 8} (a node of 8) gives 1 + 2 + 3 + 4 = 10 (tp, etp) pairs; each
// layout with etp != tp equals estimate() of its reproduce scenario (a sample of them).
TEST(PlannerKnobs, ExpertTensorParallelSizesAreSearchedForMoE) {
  const PlanRequest rq = request_for("mixtral-8x7b", 4096, 64, "h100-80gb", 16);
  const Planner planner(rq);
  std::set<std::pair<std::int64_t, std::int64_t>> tp_etp;
  std::size_t compared = 0, i = 0;
  planner.for_each_candidate([&](const PlanEntry& e) {
    const std::int64_t etp = e.layout.etp == 0 ? e.layout.tp : e.layout.etp;
    tp_etp.emplace(e.layout.tp, etp);
    if (etp == e.layout.tp || i++ % 97 != 0) return;
    SCOPED_TRACE(describe(e.layout));
    EXPECT_LT(etp, e.layout.tp);
    EXPECT_EQ(estimate(scenario_for(rq, e.layout)).max_peak.value, e.max_peak.value);
    ++compared;
  });
  EXPECT_EQ(tp_etp.size(), 10u);
  EXPECT_GT(compared, 20u);
  RecordProperty("compared", static_cast<int>(compared));
}

// A dense model has no experts: etp stays tp (read as 0).
TEST(PlannerKnobs, DenseModelsKeepEtpAtTp) {
  const Planner planner(small_request());
  bool other = false;
  planner.for_each_candidate([&](const PlanEntry& e) { other |= e.layout.etp != 0; });
  EXPECT_FALSE(other);
}

// Uniform groups: a chunk of c layers keeps ceil(c / N) checkpoints. For c = 12 (gpt2, pp 1) the counts are
// N = 1..12 -> 12, 6, 4, 3, 3, 2, 2, 2, 2, 2, 2, 1: they fall at N = 1, 2, 3, 4, 6, 12 only.
TEST(PlannerKnobs, UniformRecomputeGroupsAreThoseThatChangeTheCheckpointCount) {
  PlanRequest rq = request_for("gpt2", 1024, 8, Bytes(80ULL << 30), 1);
  rq.fixed.recompute_granularity = RecomputeGranularity::full;
  rq.fixed.recompute_method = RecomputeMethod::uniform;
  const Planner planner(rq);
  std::set<std::int64_t> groups;
  for (const auto& c : planner.candidates()) groups.insert(c.recompute.num_layers);
  EXPECT_EQ(groups, (std::set<std::int64_t>{1, 2, 3, 4, 6, 12}));
  // Every N of 1..12 replayed: among the N with one checkpoint count the smallest has the lowest peak, and the cost
  // proxy does not depend on N (uniform recomputes every layer), so no skipped N ranks ahead of a searched one.
  const std::size_t b = 0;
  std::vector<PlanEntry> every;
  for (std::int64_t n = 1; n <= 12; ++n) {
    PlanLayout l = planner.layout_of(b, false, 0, {RecomputeGranularity::full, RecomputeMethod::uniform, n});
    PlanEntry e;
    e.layout = l;
    e.max_peak = estimate(scenario_for(rq, l)).max_peak;
    e.cost = planner.cost_of(b, l);
    every.push_back(e);
  }
  for (std::int64_t n = 2; n <= 12; ++n) {
    const PlanEntry& here = every[static_cast<std::size_t>(n - 1)];
    const PlanEntry& before = every[static_cast<std::size_t>(n - 2)];
    EXPECT_EQ(here.cost.total, before.cost.total);
    if ((12 + n - 1) / n == (12 + n - 2) / (n - 1)) {
      EXPECT_FALSE(groups.count(n));
      EXPECT_TRUE(plan_entry_less(before, here)) << "N " << n;
    }
  }
}

// Ulysses divides dp, and tp * ulysses the heads (gpt2: 12). A fixed degree no rule allows names the knob.
TEST(PlannerKnobs, UlyssesDegreesFollowEstimatesRules) {
  PlanRequest rq = small_request();
  rq.search_shard_groups = false;
  rq.uneven_splits = false;
  const Planner planner(rq);
  std::set<std::int64_t> seen;
  planner.for_each_candidate([&](const PlanEntry& e) {
    const PlanLayout& l = e.layout;
    seen.insert(l.ulysses_sp);
    EXPECT_EQ(l.dp % l.ulysses_sp, 0);
    EXPECT_EQ(12 % (l.tp * l.ulysses_sp), 0);
  });
  EXPECT_EQ(seen, (std::set<std::int64_t>{1, 2, 4}));
  // Off by default.
  const Planner plain(request_for("gpt2", 1024, 64, Bytes(3ULL << 30), 16));
  for (const auto& c : plain.candidates()) ASSERT_EQ(plain.layout_of(c.base, false, 0, {}).ulysses_sp, 1);
  rq.fixed.ulysses_sp = 8;  // 12 heads
  try {
    Planner p(rq);
    FAIL() << "ulysses_sp 8 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("ulysses_sp = 8: num_attention_heads (12) is not divisible by it"),
              std::string::npos)
        << e.what();
  }
  // Set in the base (--ulysses-sp), it is fixed.
  PlanRequest fixed = request_for("gpt2", 1024, 64, Bytes(3ULL << 30), 16);
  fixed.base.parallel.ulysses_sp = 2;
  const Planner two(fixed);
  ASSERT_GT(two.num_bases(), 0u);
  for (std::size_t b = 0; b < two.num_bases(); ++b) EXPECT_EQ(two.layout_of(b, false, 0, {}).ulysses_sp, 2);
}

// HSDP: S < dp divides dp, with ZeRO >= 1 only; a fixed S (--shard-group-size) keeps dp = S (plain) or dp a multiple.
TEST(PlannerKnobs, ShardGroupsNeedShardingAndDivideDp) {
  PlanRequest rq = request_for("gpt2", 1024, 64, Bytes(3ULL << 30), 16);
  rq.base.parallel.shard_group_size = 4;
  const Planner planner(rq);
  std::set<std::int64_t> dps;
  planner.for_each_candidate([&](const PlanEntry& e) {
    const PlanLayout& l = e.layout;
    if (l.shard_group_size == 0) {
      EXPECT_EQ(l.dp, 4) << describe(l);
    } else {
      EXPECT_EQ(l.shard_group_size, 4);
      EXPECT_EQ(l.dp % 4, 0);
      EXPECT_GT(l.dp, 4);
      EXPECT_GE(l.zero_stage, 1);
      dps.insert(l.dp);
    }
  });
  EXPECT_EQ(dps, (std::set<std::int64_t>{8, 16}));
}

// Uneven splits: gpt2's 12 layers on pp 2 within 4 layers of half are first 2..10 (not 6); the whole range
// (uneven_max_delta >= 5) adds first 1 and 11.
TEST(PlannerKnobs, UnevenMaxDeltaWidensTheSplits) {
  for (const auto& [delta, want] :
       {std::make_pair(std::int64_t{4}, std::set<std::int64_t>{2, 3, 4, 5, 7, 8, 9, 10}),
        std::make_pair(std::int64_t{12}, std::set<std::int64_t>{1, 2, 3, 4, 5, 7, 8, 9, 10, 11})}) {
    PlanRequest rq = request_for("gpt2", 1024, 64, Bytes(80ULL << 30), 2);
    rq.uneven_splits = true;
    rq.uneven_max_delta = delta;
    rq.fixed.pp = 2;
    const Planner planner(rq);
    std::set<std::int64_t> firsts;
    for (std::size_t b = 0; b < planner.num_bases(); ++b) {
      const PlanLayout l = planner.layout_of(b, false, 0, {});
      if (l.first_stage_layers != 0) firsts.insert(l.first_stage_layers);
    }
    EXPECT_EQ(firsts, want) << "delta " << delta;
  }
  PlanRequest bad = request_for("gpt2", 1024, 64, Bytes(80ULL << 30), 2);
  bad.uneven_max_delta = -1;
  EXPECT_THROW(Planner{bad}, ConfigError);
}

}  // namespace
}  // namespace trainmem::sim
