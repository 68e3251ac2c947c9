// --framework, --optimizer-impl and --recipe amp through the public CLI: the hf step's peak and its category
// breakdown in JSON, --explain's step points, and the commands that refuse the hf profile for now.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

// The ground-truth lab's Llama-shaped model (tools/groundtruth/results/configs/llama.json) as shape flags.
std::vector<std::string> lab_llama(std::vector<std::string> extra) {
  std::vector<std::string> a = {"estimate",
                                "--num-layers",
                                "2",
                                "--hidden-size",
                                "64",
                                "--num-attention-heads",
                                "4",
                                "--num-query-groups",
                                "2",
                                "--ffn-hidden-size",
                                "176",
                                "--vocab-size",
                                "32000",
                                "--swiglu",
                                "--normalization",
                                "RMSNorm",
                                "--position-embedding-type",
                                "rope",
                                "--untie-embeddings-and-output-weights",
                                "--disable-bias-linear",
                                "--seq-length",
                                "128",
                                "--micro-batch-size",
                                "1",
                                "--runtime",
                                "off",
                                "--format",
                                "json"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(FrameworkCli, HfPeakMatchesTheLabAndCategoriesSumToIt) {
  // Lab config llama-bf16-adamw-foreach-s128-b1: measured max_peak_bytes 75,092,992 at backward:1.0
  // (LogSoftmaxBackward0): params 8,378,880 + optimizer states 16,757,760 + activations 17,185,280 +
  // temporaries 32,769,024 + ids/buffers 2,048.
  const CliRun r =
      run(lab_llama({"--framework", "hf", "--recipe", "bf16", "--optimizer", "adamw", "--optimizer-impl", "foreach"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  const auto peak = j["max_peak_bytes"].get<double>();
  EXPECT_LT(std::abs(peak - 75'092'992.0) / 75'092'992.0, 0.001) << peak;
  std::uint64_t sum = 0;
  for (const char* k :
       {"params", "grads", "master_params", "optimizer_states", "activations", "buffers", "temporaries", "runtime"})
    sum += j["ranks"][0]["bytes"][k].get<std::uint64_t>();
  EXPECT_EQ(sum, j["ranks"][0]["bytes"]["peak"].get<std::uint64_t>());
  EXPECT_EQ(j["config"]["framework"], "hf");
  EXPECT_EQ(j["config"]["optimizer_impl"], "foreach");
  EXPECT_EQ(j["ranks"][0]["framework_step"]["peak_point"], "start of backward (log_softmax backward)");
  // hf pads no vocabulary: 2 x 32000 x 64 + 2 layers x 46,208 + 64 = 4,188,480 parameters.
  EXPECT_EQ(j["ranks"][0]["parameters"].get<std::uint64_t>(), 4'188'480U);
}

TEST(FrameworkCli, DefaultIsMegatronAndAddsNothing) {
  const CliRun r = run(lab_llama({"--recipe", "bf16"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_FALSE(j["config"].contains("framework"));
  EXPECT_FALSE(j["ranks"][0].contains("framework_step"));
}

TEST(FrameworkCli, AmpRecipeAndAlias) {
  // amp: fp32 params (4 bytes) and Adam states (8 bytes), no master copy.
  for (const char* name : {"amp", "torch-amp"}) {
    const CliRun r = run(lab_llama({"--framework", "hf", "--recipe", name}));
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = r.json();
    EXPECT_EQ(j["ranks"][0]["bytes"]["params"].get<std::uint64_t>(), 4U * 4'188'480U);
    EXPECT_EQ(j["ranks"][0]["bytes"]["optimizer_states"].get<std::uint64_t>(), 8U * 4'188'480U);
    EXPECT_EQ(j["ranks"][0]["bytes"]["master_params"].get<std::uint64_t>(), 0U);
  }
}

TEST(FrameworkCli, ExplainShowsTheStepPoints) {
  auto a = lab_llama({"--framework", "hf", "--explain"});
  for (auto& x : a)
    if (x == "json") x = "table";
  const CliRun r = run(a);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Framework profile hf"), std::string::npos);
  EXPECT_NE(r.out.find("<- peak"), std::string::npos);
  EXPECT_NE(r.out.find("4*s*b*V"), std::string::npos);
}

TEST(FrameworkCli, ZeroOneAndFsdpFollowPyTorchsSharding) {
  // DDP + ZeroRedundancyOptimizer, dp 2 (lab llama-bf16-adamw-foreach-s128-b1-zero1-dp2, measured 75,091,968 B at
  // backward:2.0): the DDP step (83,471,360 measured) with the larger greedy partition's bf16 moments,
  // 4 B * 2,094,272 = 8,377,088 B (measured 8,379,392 with 512-byte rounding of the norms' moments).
  const std::vector<std::string> common = {"--framework",
                                           "hf",
                                           "--recipe",
                                           "bf16",
                                           "--optimizer",
                                           "adamw",
                                           "--optimizer-impl",
                                           "foreach",
                                           "--dp",
                                           "2",
                                           "--global-batch-size",
                                           "2",
                                           "--ddp-gradient-as-bucket-view",
                                           "false"};
  auto z1 = common;
  z1.insert(z1.end(), {"--zero-stage", "1"});
  const CliRun r1 = run(lab_llama(z1));
  ASSERT_EQ(r1.code, 0) << r1.err;
  const auto j1 = r1.json();
  EXPECT_LT(std::abs(j1["max_peak_bytes"].get<double>() - 75'091'968.0) / 75'091'968.0, 0.001);
  EXPECT_EQ(j1["ranks"][0]["bytes"]["optimizer_states"].get<std::uint64_t>(), 8'377'088U);
  // FSDP2 full shard, dp 2 (lab fsdp-full-dp2, rank 0: 70,815,232 B at backward:2.0): shards 2 B * 2,094,240 =
  // 4,188,480 params and 4 B * 2,094,240 = 8,376,960 states, the root re-gathered for backward
  // 2 B * (2*2,048,000 + 64) = 8,192,128 (measured 8,192,512: three 512-byte blocks) and the last layer's
  // group 2 B * 46,208 = 92,416 (measured 92,672); no DDP buckets.
  auto z3 = common;
  z3.insert(z3.end(), {"--zero-stage", "3"});
  const CliRun r3 = run(lab_llama(z3));
  ASSERT_EQ(r3.code, 0) << r3.err;
  const auto j3 = r3.json();
  EXPECT_LT(std::abs(j3["max_peak_bytes"].get<double>() - 70'815'232.0) / 70'815'232.0, 0.001);
  EXPECT_EQ(j3["ranks"][0]["bytes"]["params"].get<std::uint64_t>(), 4'188'480U);
  EXPECT_EQ(j3["ranks"][0]["bytes"]["buffers"].get<std::uint64_t>(), 0U);
}

TEST(FrameworkCli, BadValuesAndRefusals) {
  EXPECT_EQ(run(lab_llama({"--framework", "deepspeed"})).code, 2);
  EXPECT_EQ(run(lab_llama({"--optimizer-impl", "vectorized"})).code, 2);
  // simulate replays the hf step (tests/sim/engine/simulate_hf_test.cpp) and refuses what the profile refuses.
  auto sim = lab_llama({"--framework", "hf"});
  sim[0] = "simulate";
  const CliRun s = run(sim);
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("backward start: loss gradients"), std::string::npos) << s.out;
  auto sim_tp = lab_llama({"--framework", "hf", "--tp", "2", "--global-batch-size", "8"});
  sim_tp[0] = "simulate";
  const CliRun st = run(sim_tp);
  EXPECT_EQ(st.code, 2);
  EXPECT_NE(st.err.find("framework"), std::string::npos);
  // plan searches the layouts the hf profile models (tests/sim/planner/planner_hf_test.cpp) and refuses a fixed
  // knob it does not model.
  const CliRun p = run({"plan", "--model", "qwen2-0.5b", "--gpu", "h100-80gb", "--framework", "hf", "--seq-length",
                        "1024", "--global-batch-size", "8", "--max-gpus", "8", "--optimizer-impl", "fused"});
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("--framework hf"), std::string::npos) << p.out;
  const CliRun pt = run({"plan", "--model", "qwen2-0.5b", "--gpu", "h100-80gb", "--framework", "hf", "--tp", "2",
                         "--global-batch-size", "8"});
  EXPECT_EQ(pt.code, 2);
  EXPECT_NE(pt.err.find("framework"), std::string::npos);
}

}  // namespace
}  // namespace trainmem::tools::test
