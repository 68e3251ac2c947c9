// verify_finalists(): the planner's finalists replayed by simulate(). Checked against brute force: every
// candidate of a small space replayed by simulate() (and checked between its bounds, lower_peak <= replay <=
// estimate()), the best variant of each layout that fits when replayed kept, sorted by the planner's order; and on
// the 100B acceptance command.
#include "sim/planner/plan_verify.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>

#include "partition/model_presets.hpp"
#include "plan_request.hpp"
#include "sim/engine/simulate.hpp"
#include "sim/runtime/device_spec.hpp"

namespace trainmem::sim {
namespace {

using test::request_for;

struct BruteForce {
  std::vector<VerifiedEntry> ranked;  // best variant of every layout that fits when replayed, best first
  std::uint64_t replayed = 0, fit_by_replay = 0, fit_only_replayed = 0, over_host = 0, offloaded = 0;
  std::uint64_t exact_lower = 0;  // candidates whose lower bound equals the replayed peak
};

// Every candidate, no pruning: replayed by simulate(); kept when the replayed peak fits (and, offloading, the node's
// host RAM / NVMe holds the offloaded bytes); the best variant per base; ranked. Each candidate's replayed peak is
// checked between its bounds: lower_peak (stage_peak_lower()) <= simulate() <= estimate().
std::string text(const PlanLayout& l) {
  return "tp " + std::to_string(l.tp) + " pp " + std::to_string(l.pp) + " vpp " + std::to_string(l.vpp) + " dp " +
         std::to_string(l.dp) + " mbs " + std::to_string(l.micro_batch_size) + " sp " +
         std::to_string(l.sequence_parallel) + " zero " + std::to_string(l.zero_stage) + " recompute " +
         std::to_string(static_cast<int>(l.recompute_granularity)) + "/" +
         std::to_string(static_cast<int>(l.recompute_method)) + "/" + std::to_string(l.recompute_num_layers) +
         " split " + std::to_string(l.first_stage_layers) + "/" + std::to_string(l.last_stage_layers) + " usp " +
         std::to_string(l.ulysses_sp) + " offload " + std::to_string(l.offloads());
}

BruteForce brute_force(const Planner& planner) {
  BruteForce bf;
  std::map<std::uint32_t, VerifiedEntry> best;
  const PlanRequest& rq = planner.request();
  planner.for_each_candidate([&](const PlanEntry& e) {
    if (e.layout.offloads() && (e.host_per_node > rq.host_memory_per_node || e.nvme_per_node > rq.nvme_per_node)) {
      ++bf.over_host;  // offload needs the node's host RAM / NVMe
      return;
    }
    ++bf.replayed;
    const SimulationResult s = simulate(scenario_for(planner.request(), e.layout), false);
    EXPECT_LE(e.lower_peak, s.max_peak) << text(e.layout);
    EXPECT_LE(s.max_peak, e.max_peak) << text(e.layout);
    if (e.lower_peak == s.max_peak) ++bf.exact_lower;
    if (s.max_peak > planner.budget()) return;
    ++bf.fit_by_replay;
    if (e.max_peak > planner.budget()) ++bf.fit_only_replayed;
    if (e.layout.offloads()) ++bf.offloaded;
    auto it = best.find(e.base);
    if (it == best.end() || plan_entry_less(e, it->second.entry)) best[e.base] = {e, {s.max_peak, 0, ""}};
  });
  for (auto& [b, v] : best) bf.ranked.push_back(v);
  std::sort(bf.ranked.begin(), bf.ranked.end(),
            [](const VerifiedEntry& a, const VerifiedEntry& b) { return plan_entry_less(a.entry, b.entry); });
  return bf;
}

// The brute-force answer for `o`: the smallest world only (min_gpus), the first `top`.
std::vector<VerifiedEntry> answer_of(const BruteForce& bf, const PlanVerifyOptions& o) {
  std::vector<VerifiedEntry> out = bf.ranked;
  if (o.min_gpus && !out.empty()) {
    const std::int64_t w = out.front().entry.layout.world_size();
    out.erase(
        std::find_if(out.begin(), out.end(), [w](const VerifiedEntry& v) { return v.entry.layout.world_size() != w; }),
        out.end());
  }
  if (out.size() > o.top) out.resize(o.top);
  return out;
}

// As `trainmem plan` runs it: a search ranking what may fit when replayed, then the replay.
PlanVerification verified(const Planner& planner, std::size_t depth, const PlanVerifyOptions& o) {
  PlanSearchOptions s;
  s.top = depth;
  s.fit_by_replay = true;
  return verify_finalists(planner, planner.search(s), depth, o, [&](std::size_t k) {
    PlanSearchOptions d;
    d.top = k;
    d.fit_by_replay = true;
    return planner.search(d);
  });
}

void expect_same(const std::vector<VerifiedEntry>& got, const std::vector<VerifiedEntry>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].entry.layout, want[i].entry.layout) << "rank " << i;
    EXPECT_EQ(got[i].entry.max_peak, want[i].entry.max_peak) << "rank " << i;
    EXPECT_EQ(got[i].replayed.peak, want[i].replayed.peak) << "rank " << i;
  }
}

// verify_finalists() against brute force for every --top / --min-gpus / depth combination.
void check_against_brute_force(const PlanRequest& rq, BruteForce& bf) {
  const Planner planner(rq);
  bf = brute_force(planner);
  ASSERT_GT(bf.fit_by_replay, 100u);
  ASSERT_FALSE(bf.ranked.empty());
  // Some layouts overflow by estimate() but fit when replayed (mixed-20's fp32 gradient copy lives in the optimizer
  // step, block recompute's transient below the kept layers): the plan must find them too.
  EXPECT_GT(bf.fit_only_replayed, 0u);
  std::cout << bf.replayed << " candidates replayed, " << bf.fit_by_replay << " fit when replayed ("
            << bf.fit_only_replayed << " over the budget by estimate), " << bf.exact_lower
            << " with the lower bound equal to the replay\n";
  for (const bool min_gpus : {false, true}) {
    for (const std::size_t top : {std::size_t{1}, std::size_t{5}, std::size_t{40}}) {
      const PlanVerifyOptions o{top, min_gpus};
      // Depth 1 forces verify_finalists to ask for deeper rankings; depth 200 has enough at once.
      for (const std::size_t depth : {std::size_t{1}, std::size_t{200}}) {
        SCOPED_TRACE("min_gpus " + std::to_string(min_gpus) + " top " + std::to_string(top) + " depth " +
                     std::to_string(depth));
        const PlanVerification v = verified(planner, depth, o);
        expect_same(v.layouts, answer_of(bf, o));
        for (const auto& e : v.layouts) EXPECT_LE(e.replayed.peak, planner.budget());
      }
    }
  }
}

TEST(PlanVerify, EqualsBruteForceReplayOfEveryCandidate) {
  // GPT-2 large (774M) with DeepSpeed's 20-byte recipe on 12 GiB devices, up to 16 GPUs: the budget cuts
  // through the space, so some layouts fit by estimate() but overflow in the replay (the simulator adds
  // DeepSpeed's buckets, ZeRO-3 gathers and the optimizer step's fp32 gradient copy).
  // The ASan+UBSan build (about 30x slower) replays the space up to 8 GPUs, the dev build up to 16.
#ifdef TRAINMEM_SANITIZED
  constexpr std::int64_t kMaxGpus = 8;
#else
  constexpr std::int64_t kMaxGpus = 16;
#endif
  PlanRequest rq = request_for("gpt2-large", 1024, 32, Bytes(12ULL << 30), kMaxGpus);
  rq.base.training.recipe = "deepspeed";
  BruteForce bf;
  check_against_brute_force(rq, bf);
}

TEST(PlanVerify, EqualsBruteForceWithOffloadSearched) {
  // The same model with offload searched (optimizer / parameters / checkpoints to host RAM) and a host
  // capacity of 12 GiB per node that some offload layouts exceed: the replay's block bisection is keyed by
  // the offload choice too. The ASan+UBSan build replays up to 4 GPUs, the dev build up to 8.
#ifdef TRAINMEM_SANITIZED
  constexpr std::int64_t kMaxGpus = 4;
#else
  constexpr std::int64_t kMaxGpus = 8;
#endif
  PlanRequest rq = request_for("gpt2-large", 1024, 32, Bytes(12ULL << 30), kMaxGpus);
  rq.base.training.recipe = "deepspeed";
  rq.offload_search = OffloadDevice::cpu;
  rq.host_memory_per_node = Bytes(12ULL << 30);
  BruteForce bf;
  check_against_brute_force(rq, bf);
  EXPECT_GT(bf.offloaded, 0u);  // offload layouts are among the kept variants
  EXPECT_GT(bf.over_host, 0u);  // and the host capacity cuts some
}

TEST(PlanVerify, EqualsBruteForceWithUlyssesRecomputeGroupsHsdpAndWideSplitsSearched) {
  // The issue 18 knobs searched together (Ulysses up to 4, uniform recompute groups, HSDP shard groups, uneven
  // splits over the whole range) on gpt2-large (36 layers, 20 heads: Ulysses 2 and 4 with tp 1, 2 with tp 2), up to
  // 4 GPUs in both builds (153,716 replays at 8 GPUs: 40 s under load). Up to 2 GPUs (the sanitized build's bound
  // before) not every knob is among the kept best-per-layout variants, so the check below would not test them.
  constexpr std::int64_t kMaxGpus = 4;
  PlanRequest rq = request_for("gpt2-large", 1024, 32, Bytes(12ULL << 30), kMaxGpus);
  rq.base.training.recipe = "deepspeed";
  rq.max_ulysses_sp = 4;
  rq.search_shard_groups = true;
  rq.uneven_splits = true;
  rq.uneven_max_delta = 36;
  BruteForce bf;
  check_against_brute_force(rq, bf);
  bool ulysses = false, hsdp = false, group = false;
  for (const auto& v : bf.ranked) {
    const PlanLayout& l = v.entry.layout;
    ulysses |= l.ulysses_sp > 1, hsdp |= l.shard_group_size != 0;
    group |= l.recompute_method == RecomputeMethod::uniform && l.recompute_num_layers > 1;
  }
  EXPECT_TRUE(ulysses && hsdp && group);  // each new knob is in a kept (best-per-layout) variant
}

TEST(PlanVerify, EqualsBruteForceWithExpertLayoutsSearched) {
  // A small Mixtral-shaped MoE (4 layers, hidden 512, 8 experts of width 1024, top 2, 8 heads, 2 KV groups, vocab
  // 32,000) with the 20-byte recipe, up to 8 GPUs (4 in the sanitized build): ep and etp are searched (etp every
  // divisor of tp), and the brute force replays every candidate.
#ifdef TRAINMEM_SANITIZED
  constexpr std::int64_t kMaxGpus = 4;
#else
  constexpr std::int64_t kMaxGpus = 8;
#endif
  PlanRequest rq = request_for("mixtral-8x7b", 2048, 32, Bytes(3ULL << 30), kMaxGpus);
  ModelSpec& m = *rq.base.model;
  m.name = "moe-small";
  m.num_layers = 4, m.hidden_size = 512, m.ffn_hidden_size = 1024, m.num_attention_heads = 8;
  m.num_query_groups = 2, m.kv_channels = 0, m.vocab_size = 32000;
  rq.base.training.recipe = "deepspeed";
  BruteForce bf;
  check_against_brute_force(rq, bf);
  bool ep = false, etp = false;
  for (const auto& v : bf.ranked) {
    ep |= v.entry.layout.ep > 1;
    etp |= v.entry.layout.etp != 0 && v.entry.layout.etp != v.entry.layout.tp;
  }
  EXPECT_TRUE(ep && etp);  // expert parallel and a separate expert tensor parallel size are among the kept variants
}

TEST(PlanVerify, AcceptanceCommandKeepsTwentyFourGpusAndTheReplayedAnswerFits) {
  // trainmem plan --model gpt-100b --gpu h100-80gb --seq-length 4096 --global-batch-size 1536 --min-gpus
  const PlanRequest rq = request_for("gpt-100b", 4096, 1536, find_device("h100-80gb")->memory, 4096);
  const Planner planner(rq);
  PlanSearchOptions est_only;
  est_only.min_gpus = true;
  const PlanResult analytic = planner.search(est_only);
  ASSERT_FALSE(analytic.layouts.empty());
  const PlanVerification v = verified(planner, 28, {10, true});
  ASSERT_FALSE(v.layouts.empty());
  const VerifiedEntry& answer = v.layouts.front();
  // estimate() bounds the replay from above, so estimate()'s best layout fits when replayed: the replayed answer
  // ranks no worse, on the same 24 GPUs (no smaller world fits even by the replay's lower bound).
  EXPECT_EQ(answer.entry.layout.world_size(), 24);
  EXPECT_EQ(answer.entry.layout.world_size(), analytic.layouts.front().layout.world_size());
  EXPECT_FALSE(plan_entry_less(analytic.layouts.front(), answer.entry));
  // The kept answer's replayed peak is simulate() of the reproduced scenario, and fits.
  const SimulationResult s = simulate(scenario_for(rq, answer.entry.layout), false);
  EXPECT_EQ(answer.replayed.peak, s.max_peak);
  EXPECT_LE(s.max_peak, planner.budget());
  EXPECT_LE(answer.entry.lower_peak, s.max_peak);
  // Issue 18 item 3: the answer is cheaper than estimate()'s best and overflows by estimate() (block recompute of
  // 77 of 80 layers: the replay rebuilds layer 76 after the 3 kept layers' tensors were freed; estimate() places
  // the rebuild on top of all of them), so an estimate-pruned search missed it.
  EXPECT_GT(answer.entry.max_peak, planner.budget());
  EXPECT_TRUE(plan_entry_less(answer.entry, analytic.layouts.front()));
  EXPECT_EQ(estimate(scenario_for(rq, answer.entry.layout)).max_peak, answer.entry.max_peak);
}

}  // namespace
}  // namespace trainmem::sim
