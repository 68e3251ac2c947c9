// `trainmem plan` through the real command line: JSON fields, every layout reproduces with `estimate`
// (same peak, under the budget), fixed knobs, --min-gpus / --num-gpus / --why-not, margins, errors.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/tools/cli_test_util.hpp"
#include "tools/report/format.hpp"

namespace trainmem::tools::test {
namespace {

const std::vector<std::string> k100B = {
    "plan", "--model", "gpt-100b", "--gpu", "h100-80gb", "--seq-length", "4096", "--global-batch-size", "1536"};

std::string hybrid_one_node() {
  const std::string path = testing::TempDir() + "/plan_hybrid.yaml";
  std::ofstream(path)
      << "distributed_type: FSDP\nnum_processes: 4\nfsdp_config:\n  fsdp_sharding_strategy: HYBRID_SHARD\n";
  return path;
}

std::vector<std::string> with(std::vector<std::string> base, std::initializer_list<std::string> more) {
  base.insert(base.end(), more);
  return base;
}

// Ulysses, HSDP shard groups and uniform recompute groups searched: each listed layout carries its knobs, and its
// estimate_args reproduce its peak with `trainmem estimate`.
TEST(PlanCli, UlyssesAndHsdpLayoutsReproduceWithEstimate) {
  const std::vector<std::string> base = {"plan", "--model", "llama2-7b", "--gpu", "h100-80gb", "--format", "json"};
  struct Case {
    std::vector<std::string> args;
    const char* key;  // the knob the answer must use
  } cases[] = {
      {with(base, {"--seq-length", "65536", "--global-batch-size", "16", "--min-gpus", "--max-cp", "1",
                   "--max-ulysses-sp", "8", "--top", "2"}),
       "ulysses_sp"},
      {with(base,
            {"--seq-length", "4096", "--global-batch-size", "512", "--num-gpus", "16", "--hsdp-search", "--top", "3"}),
       "shard_group_size"},
  };
  for (const auto& c : cases) {
    const CliRun r = run(c.args);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = r.json();
    ASSERT_FALSE(j["layouts"].empty());
    const auto& best = j["layouts"][0];
    if (std::string(c.key) == "ulysses_sp")
      EXPECT_GT(best["ulysses_sp"].get<std::int64_t>(), 1) << best.dump();
    else
      EXPECT_LT(best["shard_group_size"].get<std::int64_t>(), best["dp"].get<std::int64_t>()) << best.dump();
    for (const auto& l : j["layouts"]) {
      std::vector<std::string> args = l["estimate_args"];
      args.insert(args.end(), {"--format", "json"});
      const CliRun e = run(args);
      ASSERT_EQ(e.code, 0) << e.err;
      EXPECT_EQ(e.json()["max_peak_bytes"].get<std::uint64_t>(), l["max_peak_bytes"].get<std::uint64_t>());
      EXPECT_EQ(e.json()["config"]["ulysses_sp"], l["ulysses_sp"]);
      EXPECT_EQ(e.json()["config"]["shard_group_size"], l["shard_group_size"]);
    }
  }
  // --why-not on an HSDP layout, and a HYBRID_SHARD file on one machine of 4 (the group is all of dp: FULL_SHARD),
  // are planned instead of refused.
  const CliRun w = run(with(
      k100B, {"--why-not", "--tp", "8", "--pp", "8", "--dp", "4", "--zero-stage", "1", "--shard-group-size", "2"}));
  EXPECT_TRUE(w.code == 0 || w.code == 1) << w.err;
  EXPECT_NE(w.out.find("# Verdict"), std::string::npos) << w.out;
  const CliRun h = run(with(k100B, {"--accelerate-config", hybrid_one_node(), "--format", "json"}));
  EXPECT_TRUE(h.code == 0 || h.code == 1) << h.err;
}

TEST(PlanCli, MinGpusJsonHasEveryFieldAndEachLayoutReproducesWithEstimate) {
  const CliRun r = run(with(k100B, {"--min-gpus", "--format", "json", "--top", "4"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["mode"], "min_gpus");
  EXPECT_TRUE(j["fits"].get<bool>());
  ASSERT_FALSE(j["layouts"].empty());
  EXPECT_LE(j["layouts"].size(), 4u);
  const std::uint64_t budget = j["config"]["budget_bytes"];
  const std::uint64_t gpu = j["config"]["gpu_memory_bytes"];
  // 10% margin, reserve rounded up: 85,520,809,984 - ceil(8,552,080,998.4).
  EXPECT_EQ(gpu, 81559ULL * 1024 * 1024);
  EXPECT_EQ(budget, gpu - 8552080999ULL);
  EXPECT_EQ(j["min_gpus"], j["layouts"][0]["world_size"]);
  for (const auto& l : j["layouts"]) {
    for (const char* f : {"world_size", "tp", "pp", "dp", "cp", "vpp", "zero_stage", "sequence_parallel",
                          "recompute_granularity", "micro_batch_size", "max_peak_bytes", "estimate_args"})
      EXPECT_TRUE(l.contains(f)) << f;
    EXPECT_EQ(l["world_size"], j["min_gpus"]);  // --min-gpus lists layouts on the smallest size only
    EXPECT_EQ(l["world_size"].get<std::int64_t>(), l["tp"].get<std::int64_t>() * l["pp"].get<std::int64_t>() *
                                                       l["dp"].get<std::int64_t>() * l["cp"].get<std::int64_t>());
    const std::uint64_t peak = l["max_peak_bytes"];
    const std::uint64_t simulated = l["simulated_max_peak_bytes"];
    const std::uint64_t lower = l["lower_peak_bytes"];
    EXPECT_LE(simulated, budget);  // finalists are replayed and kept when the replay fits
    EXPECT_LE(simulated, peak);    // estimate() bounds the replay from above (sim/accounting/stage_peak.hpp)
    EXPECT_LE(lower, simulated);   // and the search's bound from below (stage_peak_lower())
    EXPECT_EQ(l["headroom_bytes"].get<std::uint64_t>(), budget - simulated);
    // Over the budget by estimate() only when the replay fits: then the JSON says so and gives `simulate`'s command.
    EXPECT_EQ(l["fits_by"], peak > budget ? "replay" : "estimate and replay");
    EXPECT_EQ(l.contains("simulate_command"), peak > budget);
    std::vector<std::string> args = l["estimate_args"];
    args.insert(args.end(), {"--format", "json"});
    const CliRun e = run(args);
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_EQ(e.json()["max_peak_bytes"].get<std::uint64_t>(), peak);
    EXPECT_EQ(e.json()["world_size"], l["world_size"]);
    // The same flags under `trainmem simulate` replay to the reported simulated peak.
    args[0] = "simulate";
    const CliRun sim = run(args);
    ASSERT_EQ(sim.code, 0) << sim.err;
    EXPECT_EQ(sim.json()["simulated_max_peak_bytes"].get<std::uint64_t>(), simulated);
  }
  // Issue 18 item 3: the best layout on 24 GPUs overflows by estimate() and fits when replayed (block recompute of
  // 77 layers: the replay rebuilds layer 76 after the 3 kept layers were freed).
  EXPECT_GT(j["layouts"][0]["max_peak_bytes"].get<std::uint64_t>(), budget);
  EXPECT_GE(j["simulated"]["fit_only_replayed"].get<std::uint64_t>(), 1u);
  // Whole nodes: 24 GPUs is 3 nodes of 8, and the answer is a multiple of gpus_per_node.
  EXPECT_EQ(j["min_gpus"].get<std::int64_t>() % 8, 0);
}

TEST(PlanCli, NoSimulateRanksByEstimateAlone) {
  const CliRun r = run(with(k100B, {"--min-gpus", "--format", "json", "--top", "2", "--no-simulate"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_TRUE(j["simulated"].is_null());
  const std::uint64_t budget = j["config"]["budget_bytes"];
  for (const auto& l : j["layouts"]) {
    EXPECT_FALSE(l.contains("simulated_max_peak_bytes"));
    EXPECT_EQ(l["headroom_bytes"].get<std::uint64_t>(), budget - l["max_peak_bytes"].get<std::uint64_t>());
  }
  // Same smallest cluster with and without the replay (the replay finds cheaper layouts on it here, no smaller one).
  const CliRun v = run(with(k100B, {"--min-gpus", "--format", "json", "--top", "1"}));
  ASSERT_EQ(v.code, 0) << v.err;
  EXPECT_EQ(v.json()["min_gpus"], j["min_gpus"]);
  const CliRun t = run(with(k100B, {"--min-gpus", "--top", "1"}));
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("sim peak"), std::string::npos) << t.out;
}

TEST(PlanCli, DefaultRankingIsFewestGpusThenCost) {
  const CliRun r = run(with(k100B, {"--format", "json", "--top", "30", "--max-gpus", "64"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();  // keep the document alive while iterating it
  const auto& ls = j["layouts"];
  ASSERT_GT(ls.size(), 1u);
  for (std::size_t i = 1; i < ls.size(); ++i) {
    const auto w0 = ls[i - 1]["world_size"].get<std::int64_t>(), w1 = ls[i]["world_size"].get<std::int64_t>();
    EXPECT_LE(w0, w1);
    if (w0 == w1) {
      EXPECT_LE(ls[i - 1]["cost"]["total"].get<double>(), ls[i]["cost"]["total"].get<double>());
    }
    EXPECT_LE(w1, 64);
  }
}

TEST(PlanCli, LayoutFlagsFixTheirKnobAndNumGpusFixesTheWorld) {
  const CliRun r = run(with(k100B, {"--num-gpus", "256", "--tp", "4", "--zero-stage", "1", "--format", "json"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(j["mode"], "num_gpus");
  ASSERT_FALSE(j["layouts"].empty());
  for (const auto& l : j["layouts"]) {
    EXPECT_EQ(l["world_size"], 256);
    EXPECT_EQ(l["tp"], 4);
    EXPECT_EQ(l["zero_stage"], 1);
  }
  // --world-size is the same as --num-gpus.
  const CliRun w = run(with(k100B, {"--world-size", "256", "--tp", "4", "--zero-stage", "1", "--format", "json"}));
  ASSERT_EQ(w.code, 0) << w.err;
  EXPECT_EQ(w.json()["layouts"], j["layouts"]);
}

TEST(PlanCli, SafetyMarginSetsTheBudget) {
  const CliRun none = run(with(k100B, {"--num-gpus", "64", "--safety-margin", "0", "--format", "json", "--top", "1"}));
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(none.json()["config"]["budget_bytes"], none.json()["config"]["gpu_memory_bytes"]);
  const CliRun twenty =
      run(with(k100B, {"--num-gpus", "64", "--safety-margin", "20%", "--format", "json", "--top", "1"}));
  ASSERT_EQ(twenty.code, 0) << twenty.err;
  // 20% of 85,520,809,984 = 17,104,161,996.8 -> 17,104,161,997 reserved.
  EXPECT_EQ(twenty.json()["config"]["budget_bytes"].get<std::uint64_t>(), 85520809984ULL - 17104161997ULL);
  EXPECT_EQ(run(with(k100B, {"--num-gpus", "64", "--safety-margin", "0.2", "--format", "json", "--top", "1"}))
                .json()["config"],
            twenty.json()["config"]);
  const CliRun table = run(with(k100B, {"--num-gpus", "64", "--top", "1"}));
  EXPECT_NE(table.out.find("safety margin 10% kept free"), std::string::npos) << table.out;
}

TEST(PlanCli, WhyNotNamesTheRankTheOverflowAndAFixThatFits) {
  // tp 8, dp 4, ZeRO-1, no recompute on 32 GPUs: 100B x 16 bytes with only the optimizer sharded 4 ways.
  const CliRun r = run(with(k100B, {"--why-not", "--tp", "8", "--dp", "4", "--zero-stage", "1"}));
  ASSERT_EQ(r.code, 1) << r.err << r.out;
  EXPECT_NE(r.out.find("DOES NOT FIT: class 0 (ranks 0-31, pp_rank 0)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("over the budget"), std::string::npos);
  EXPECT_NE(r.out.find("# Largest    activations"), std::string::npos) << r.out;
  // The suggested command fits per estimate within the margin.
  const auto at = r.out.find("# Fix        ");
  ASSERT_NE(at, std::string::npos);
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  const auto cmd = line.find("trainmem estimate ");
  ASSERT_NE(cmd, std::string::npos);
  std::vector<std::string> args;
  std::istringstream words(line.substr(cmd + 9));
  for (std::string w; words >> w;) args.push_back(w);
  args.insert(args.end(), {"--format", "json"});
  const CliRun e = run(args);
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_LE(e.json()["max_peak_bytes"].get<std::uint64_t>(), 85520809984ULL - 8552080999ULL);

  // A layout that fits says so, exit 0.
  const CliRun ok = run(with(k100B, {"--why-not", "--tp", "8", "--pp", "8", "--dp", "4", "--zero-stage", "1",
                                     "--sequence-parallel", "--recompute-granularity", "selective"}));
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("# Verdict    FITS"), std::string::npos) << ok.out;
}

TEST(PlanCli, WhyNotJudgesByAnEstimateThatBoundsTheReplay) {
  // The 24-GPU layout with block 75 fitted by estimate() alone until estimate() held the ZeRO-3 gathers and
  // buckets, and only the replay rejected it. Now estimate() includes them and bounds the replay from above
  // (sim/accounting/stage_peak.hpp): --why-not says DOES NOT FIT by estimate() with or without the replay, exits 1
  // and suggests a fix; the replay of the same layout peaks no higher than estimate().
  const auto layout = with(k100B, {"--why-not", "--tp", "8", "--pp", "1", "--dp", "3", "--sequence-parallel",
                                   "--zero-stage", "3", "--micro-batch-size", "4", "--recompute-granularity", "full",
                                   "--recompute-method", "block", "--recompute-num-layers", "75"});
  const CliRun r = run(layout);
  ASSERT_EQ(r.code, 1) << r.err << r.out;
  EXPECT_NE(r.out.find("# Verdict    DOES NOT FIT: class 0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("# Fix        recompute block 75 -> block"), std::string::npos) << r.out;
  std::vector<std::string> sim_args =
      with(k100B, {"--tp", "8", "--pp", "1", "--dp", "3", "--sequence-parallel", "--zero-stage", "3",
                   "--micro-batch-size", "4", "--recompute-granularity", "full", "--recompute-method", "block",
                   "--recompute-num-layers", "75", "--format", "json"});
  sim_args[0] = "simulate";
  const CliRun s = run(sim_args);
  ASSERT_EQ(s.code, 0) << s.err;
  const std::uint64_t budget = 85520809984ULL - 8552080999ULL;
  EXPECT_GT(s.json()["max_peak_bytes"].get<std::uint64_t>(), budget);
  EXPECT_LE(s.json()["simulated_max_peak_bytes"].get<std::uint64_t>(), s.json()["max_peak_bytes"].get<std::uint64_t>());
  std::vector<std::string> est_only = layout;
  est_only.push_back("--no-simulate");
  const CliRun e = run(est_only);
  EXPECT_EQ(e.code, 1) << e.out << e.err;
}

TEST(PlanCli, WhyNotJudgesByTheReplayAsPlanDoes) {
  // Block 77 on the same 24 GPUs is plan's answer (issue 18 item 3): over the budget by estimate() (77,005,755,769 >
  // 76,968,728,985 bytes), within it when replayed. --why-not gives the same verdict (exit 0); with --no-simulate it
  // judges by estimate() alone (exit 1).
  const std::vector<std::string> flags = {"--tp",
                                          "8",
                                          "--pp",
                                          "1",
                                          "--dp",
                                          "3",
                                          "--sequence-parallel",
                                          "--zero-stage",
                                          "3",
                                          "--micro-batch-size",
                                          "4",
                                          "--recompute-granularity",
                                          "full",
                                          "--recompute-method",
                                          "block",
                                          "--recompute-num-layers",
                                          "77"};
  std::vector<std::string> args = with(k100B, {"--why-not"});
  args.insert(args.end(), flags.begin(), flags.end());
  const CliRun r = run(args);
  EXPECT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("# Verdict    FITS when replayed: estimate() puts the fullest rank (class 0, ranks 0-23"),
            std::string::npos)
      << r.out;
  args.push_back("--no-simulate");
  EXPECT_EQ(run(args).code, 1);
  // From block 75 the cheapest fix is block 77, listed with `*` and reproduced with `trainmem simulate`, which
  // replays it under the budget.
  std::vector<std::string> from75 = with(k100B, {"--why-not", "--top", "3"});
  from75.insert(from75.end(), flags.begin(), flags.end());
  from75.back() = "75";
  const CliRun f = run(from75);
  ASSERT_EQ(f.code, 1) << f.err << f.out;
  EXPECT_NE(f.out.find("   recompute block 75 -> block 77                24    *71.72"), std::string::npos) << f.out;
  const auto at = f.out.find("# Fix        recompute block 75 -> block 77: trainmem simulate ");
  ASSERT_NE(at, std::string::npos) << f.out;
  const std::string line = f.out.substr(at, f.out.find('\n', at) - at);
  std::vector<std::string> sim_args;
  std::istringstream words(line.substr(line.find("trainmem simulate ") + 9));
  for (std::string w; words >> w;) sim_args.push_back(w);
  sim_args.insert(sim_args.end(), {"--format", "json"});
  const CliRun s = run(sim_args);
  ASSERT_EQ(s.code, 0) << s.err;
  const std::uint64_t budget = 85520809984ULL - 8552080999ULL;
  EXPECT_GT(s.json()["max_peak_bytes"].get<std::uint64_t>(), budget);
  EXPECT_LE(s.json()["simulated_max_peak_bytes"].get<std::uint64_t>(), budget);
}

TEST(PlanCli, NothingFitsExitsOneAndSaysHowCloseItCame) {
  // 24 GiB per GPU and at most 32 GPUs: 100B x 16 bytes needs over 1.5 TB of model states alone.
  const CliRun n = run({"plan", "--model", "gpt-100b", "--gpu-memory", "24GiB", "--seq-length", "4096",
                        "--global-batch-size", "1536", "--max-gpus", "32", "--format", "json"});
  ASSERT_EQ(n.code, 1) << n.err;
  EXPECT_FALSE(n.json()["fits"].get<bool>());
  EXPECT_TRUE(n.json()["layouts"].empty());
  const CliRun t = run({"plan", "--model", "gpt-100b", "--gpu-memory", "24GiB", "--seq-length", "4096",
                        "--global-batch-size", "1536", "--max-gpus", "32"});
  EXPECT_EQ(t.code, 1);
  EXPECT_NE(t.out.find("NOTHING FITS"), std::string::npos) << t.out;
}

TEST(PlanCli, BadInputExitsTwoNamingFieldAndValue) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {with(k100B, {"--tp", "3"}), "tensor_model_parallel_size = 3"},
      {with(k100B, {"--safety-margin", "150%"}), "safety_margin = 150%"},
      {with(k100B, {"--safety-margin", "10"}), "safety_margin = 10"},
      {with(k100B, {"--gpus-per-node", "0"}), "gpus_per_node = 0"},
      {with(k100B, {"--min-gpus", "--num-gpus", "64"}), "num_gpus = 64"},
      {with(k100B, {"--top", "x"}), "top = x"},
      {with(k100B, {"--max-gpus", "0"}), "max_gpus = 0"},
      {with(k100B, {"--num-gpus", "0"}), "num_gpus = 0"},
      {with(k100B, {"--min-gpus", "--world-size", "64"}), "world_size = 64"},
      {with(k100B, {"--max-micro-batch-size", "0"}), "max_micro_batch_size = 0"},
      {with(k100B, {"--max-cp", "0"}), "max_cp = 0"},
      {with(k100B, {"--no-simulate=maybe"}), "no-simulate = maybe"},
      {with(k100B, {"--no-such-flag", "1"}), "unknown option"},
      {{"plan", "--model", "gpt-100b", "--seq-length", "4096", "--global-batch-size", "1536"}, "gpu"},
      {{"plan", "--model", "gpt-100b", "--gpu", "h100-80gb", "--seq-length", "4096"}, "global_batch_size"},
      {{"plan", "--num-parameters", "7e9", "--gpu", "h100-80gb", "--global-batch-size", "64"}, "num_parameters"},
      // Ulysses (gpt-100b: 80 heads) and the new search bounds.
      {with(k100B, {"--ulysses-sp", "3"}), "ulysses_sp = 3: num_attention_heads (80) is not divisible by it"},
      {with(k100B, {"--max-ulysses-sp", "0"}), "max_ulysses_sp = 0"},
      {with(k100B, {"--uneven-max-delta", "-1"}), "uneven_max_delta = -1"},
      {with(k100B, {"--why-not", "--tp", "8", "--format", "json"}), "format = json"},
      // Offload: the search tier, the host capacities, and fixed knobs no rule allows.
      {with(k100B, {"--offload-search", "gpu"}), "offload_search = gpu"},
      {with(k100B, {"--host-memory-per-node", "lots"}), "host_memory_per_node = lots"},
      {with(k100B, {"--host-memory-per-node", "0"}), "host_memory_per_node = 0"},
      {with(k100B, {"--nvme-per-node", "-1TB"}), "nvme_per_node = -1TB"},
      {with(k100B, {"--offload-param", "cpu", "--zero-stage", "2"}), "offload_param = cpu"},
      {with(k100B, {"--offload-optimizer", "nvme", "--zero-stage", "1"}), "offload_optimizer = nvme"},
      {with(k100B, {"--offload-activation-checkpoints", "--recompute-granularity", "selective"}),
       "offload_activation_checkpoints = true"},
      {with(k100B, {"--inference"}), "--inference"},  // the builder refuses the training keys first
      {with(k100B, {"--lora-rank", "8"}), "lora_rank = 8"},
  };
  for (const auto& c : cases) {
    const CliRun r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.message << "\n" << r.out;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  }
}

TEST(PlanCli, HelpListsThePlanOptions) {
  const CliRun r = run({"plan", "--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* f : {"--min-gpus", "--num-gpus", "--max-gpus", "--gpus-per-node", "--safety-margin", "--top",
                        "--why-not", "--no-simulate", "--tensor-model-parallel-size", "--offload-search",
                        "--host-memory-per-node", "--nvme-per-node"})
    EXPECT_NE(r.out.find(f), std::string::npos) << f;
}

}  // namespace
}  // namespace trainmem::tools::test

namespace trainmem::tools::test {
namespace {

TEST(PlanCli, UnevenSplitsSearchASupersetAndReproduceWithEstimate) {
  const CliRun even = run(with(k100B, {"--min-gpus", "--format", "json", "--top", "1"}));
  const CliRun uneven = run(with(k100B, {"--min-gpus", "--uneven-pp", "--format", "json", "--top", "5"}));
  ASSERT_EQ(even.code, 0) << even.err;
  ASSERT_EQ(uneven.code, 0) << uneven.err;
  const auto je = even.json(), ju = uneven.json();
  // The uneven space contains the even one: its smallest cluster is never larger, and at the same size its
  // best cost is never higher.
  EXPECT_LE(ju["min_gpus"].get<std::int64_t>(), je["min_gpus"].get<std::int64_t>());
  if (ju["min_gpus"] == je["min_gpus"]) {
    EXPECT_LE(ju["layouts"][0]["cost"]["total"].get<double>(), je["layouts"][0]["cost"]["total"].get<double>());
  }
  for (const auto& l : ju["layouts"]) {
    std::vector<std::string> args = l["estimate_args"];
    args.insert(args.end(), {"--format", "json"});
    const CliRun e = run(args);
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_EQ(e.json()["max_peak_bytes"], l["max_peak_bytes"]);
  }
  // A fixed split: every layout keeps it.
  const CliRun fixed =
      run(with(k100B, {"--decoder-first-pipeline-num-layers", "6", "--decoder-last-pipeline-num-layers", "8",
                       "--num-gpus", "512", "--format", "json", "--top", "3"}));
  ASSERT_EQ(fixed.code, 0) << fixed.err;
  const auto jf = fixed.json();
  ASSERT_FALSE(jf["layouts"].empty());
  for (const auto& l : jf["layouts"]) {
    EXPECT_EQ(l["decoder_first_pipeline_num_layers"], 6);
    EXPECT_EQ(l["decoder_last_pipeline_num_layers"], 8);
    // 80 - 6 - 8 = 66 layers over pp - 2 middle stages.
    EXPECT_EQ(66 % (l["pp"].get<std::int64_t>() - 2), 0);
  }
}

}  // namespace
}  // namespace trainmem::tools::test

namespace trainmem::tools::test {
namespace {

// Llama-2-7B (6,738,415,616 parameters, vocab 32000, hidden 4096) on one H100 at sequence 4096, global batch 8.
const std::vector<std::string> k7BOneGpu = {
    "plan", "--model",    "llama2-7b", "--gpu",    "h100-80gb", "--seq-length", "4096", "--global-batch-size",
    "8",    "--num-gpus", "1",         "--format", "json"};

TEST(PlanCliOffload, SevenBOnOneGpuFitsOnlyWithOptimizerOffloadAndOnlyWithEnoughHostRam) {
  // Without offload: one GPU holds every model state, 16 bytes x 6,738,415,616 = 107,814,649,856 bytes (mixed-16
  // + Adam; ZeRO shards over dp = 1, i.e. not at all), above the 76,968,728,985-byte budget (79.65 GiB - 10%)
  // before any activation: nothing fits, and the default output has no offload fields.
  const CliRun off = run(k7BOneGpu);
  ASSERT_EQ(off.code, 1) << off.err;
  EXPECT_FALSE(off.json()["fits"].get<bool>());
  EXPECT_FALSE(off.json()["config"].contains("offload_search"));
  EXPECT_FALSE(off.json()["search"].contains("over_host"));

  // With --offload-search cpu it fits, and every layout offloads the optimizer (nothing fits without it).
  const CliRun on = run(with(k7BOneGpu, {"--offload-search", "cpu", "--top", "20"}));
  ASSERT_EQ(on.code, 0) << on.err;
  const auto j = on.json();
  EXPECT_EQ(j["config"]["offload_search"], "cpu");
  EXPECT_EQ(j["config"]["host_memory_per_node_bytes"].get<std::uint64_t>(), 2048ULL << 30);  // DGX H100 default
  ASSERT_FALSE(j["layouts"].empty());
  for (const auto& l : j["layouts"]) {
    EXPECT_EQ(l["offload_optimizer"], "cpu");
    EXPECT_GE(l["zero_stage"].get<int>(), 1);
    EXPECT_GT(l["cost"]["offload"].get<double>(), 0.0);
    // Each layout reproduces with estimate: the same GPU peak and per-node host bytes.
    std::vector<std::string> args = l["estimate_args"];
    args.insert(args.end(), {"--format", "json"});
    const CliRun e = run(args);
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_EQ(e.json()["max_peak_bytes"], l["max_peak_bytes"]);
    EXPECT_EQ(e.json()["per_node"]["host_bytes"], l["host_bytes_per_node"]);
    EXPECT_EQ(e.json()["per_node"]["nvme_bytes"], l["nvme_bytes_per_node"]);
  }

  // ZeRO-2, micro batch 1 (8 microbatches), no recompute: the host holds, per rank (one rank per node here),
  // DeepSpeed's stage_1_and_2.py tensors: fp32 master 4 + Adam m 4 + v 4 + fp32 gradient partition 4 +
  // accumulated_grads_in_cpu 2 (more than one microbatch) = 18 bytes x 6,738,415,616 = 121,291,481,088, plus
  // temp_grad_buffer_for_cpu_offload = the largest parameter (embedding 32000 x 4096 = 131,072,000) x 2 bytes
  // = 262,144,000: 121,553,625,088 bytes.
  const std::vector<std::string> fixed = {
      "--offload-search",        "cpu",  "--zero-stage",        "2",  "--micro-batch-size", "1",
      "--recompute-granularity", "none", "--offload-optimizer", "cpu"};
  const std::uint64_t host = 18ULL * 6738415616ULL + 2ULL * 32000 * 4096;
  ASSERT_EQ(host, 121553625088ULL);
  std::vector<std::string> z2_args = with(k7BOneGpu, {"--top", "1"});
  z2_args.insert(z2_args.end(), fixed.begin(), fixed.end());
  const CliRun z2 = run(z2_args);
  ASSERT_EQ(z2.code, 0) << z2.err;
  ASSERT_EQ(z2.json()["layouts"].size(), 1u);
  EXPECT_EQ(z2.json()["layouts"][0]["host_bytes_per_node"].get<std::uint64_t>(), host);
  EXPECT_EQ(z2.json()["layouts"][0]["num_microbatches"], 8);
  // PCIe per step (cost proxy): the gradient partition down every microbatch, the parameters up once:
  // (8 + 1) x 2 bytes x 6,738,415,616.
  EXPECT_DOUBLE_EQ(z2.json()["layouts"][0]["cost"]["pcie_bytes"].get<double>(), 9.0 * 2 * 6738415616.0);

  // One byte less host RAM per node than that layout needs: it no longer fits (exit 1), and the search says
  // that a layout fit the GPU but not the host. At exactly the figure it fits.
  auto with_host = [&](const std::string& size) {
    std::vector<std::string> a = with(k7BOneGpu, {"--top", "1", "--host-memory-per-node", size});
    a.insert(a.end(), fixed.begin(), fixed.end());
    return run(a);
  };
  const CliRun tight = with_host(std::to_string(host - 1) + "B");  // a byte count names its unit (issue 15)
  ASSERT_EQ(tight.code, 1) << tight.err;
  EXPECT_TRUE(tight.json()["layouts"].empty());
  EXPECT_EQ(tight.json()["search"]["over_host"], 1);
  const CliRun exact = with_host(std::to_string(host) + "B");
  ASSERT_EQ(exact.code, 0) << exact.err;

  // The table gains the offload column and the host per node; the Reproduce line carries the offload flags.
  std::vector<std::string> table = {"plan",      "--model",      "llama2-7b", "--gpu",
                                    "h100-80gb", "--seq-length", "4096",      "--global-batch-size",
                                    "8",         "--num-gpus",   "1",         "--offload-search",
                                    "cpu"};
  const CliRun t = run(table);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("offload           host/node"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("--offload-optimizer cpu"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("# Offload    opt-cpu"), std::string::npos) << t.out;
}

TEST(PlanCliOffload, WhyNotOffersOffloadWhenSearched) {
  // 7B at ZeRO-0 on one GPU (16 bytes x 6.74e9 > the budget, derived above): on the same GPU count only
  // optimizer offload fits, so with --offload-search cpu the cheapest fix on 1 GPU is an offload one.
  const std::vector<std::string> why = {
      "plan",      "--model", "llama2-7b", "--gpu", "h100-80gb", "--seq-length", "4096", "--global-batch-size", "8",
      "--why-not", "--tp",    "1",         "--dp",  "1"};
  const CliRun plain = run(why);
  ASSERT_EQ(plain.code, 1) << plain.err;
  EXPECT_EQ(plain.out.find("offload"), std::string::npos) << plain.out;
  const CliRun r = run(with(why, {"--offload-search", "cpu"}));
  ASSERT_EQ(r.code, 1) << r.err;
  const auto at = r.out.find("# Fix        ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
  EXPECT_NE(line.find("offload_optimizer cpu"), std::string::npos) << line;
  EXPECT_EQ(r.out.find("none fits on the same"), std::string::npos) << r.out;
  std::vector<std::string> args;
  std::istringstream words(line.substr(line.find("trainmem estimate ") + 9));
  for (std::string w; words >> w;) args.push_back(w);
  args.insert(args.end(), {"--format", "json"});
  const CliRun e = run(args);
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_LE(e.json()["max_peak_bytes"].get<std::uint64_t>(), 85520809984ULL - 8552080999ULL);
  EXPECT_EQ(e.json()["world_size"], 1);
}

TEST(PlanCliOffload, DefaultOutputHasNoOffloadColumn) {
  const CliRun t = run(with(k100B, {"--num-gpus", "64", "--top", "1"}));
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(t.out.find("offload"), std::string::npos) << t.out;
}

}  // namespace
}  // namespace trainmem::tools::test
