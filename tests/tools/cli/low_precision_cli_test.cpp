// Low-precision training through the command line (docs/low-precision.md): the issue's acceptance commands, the
// Megatron-LM argument reader, and the input checks (each exits 2 with one line naming the field and the value).
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <sstream>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

using Args = std::vector<std::string>;

Args llama70b(Args extra) {
  Args a = {
      "estimate", "--model",  "llama3-70b", "--tp", "8",        "--pp", "4", "--dp", "8", "--use-distributed-optimizer",
      "--recipe", "megatron", "--gpu",      "b200", "--format", "json"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(LowPrecisionCli, Mxfp8AcceptanceCommandExplainsTheFp8Terms) {
  const CliRun r =
      run({"estimate", "--model", "llama3-70b", "--tp", "8", "--pp", "4", "--dp", "8", "--use-distributed-optimizer",
           "--fp8-format", "hybrid", "--fp8-recipe", "mxfp8", "--gpu", "b200", "--explain"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* needle :
       {"fp8 weight cache (rowwise)", "fp8 weight scales (columnwise)", "mxfp8_tensor.py get_scale_shape",
        "linear.py quantize_weight", "Low-precision linear layers: --fp8-format hybrid, recipe mxfp8",
        "QKV input (norm output)", "mxfp8", "b200, 179.06 GiB"})
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle;
}

TEST(LowPrecisionCli, Bf16MomentsHalveTheOptimizerStates) {
  const CliRun fp32 = run(llama70b({"--use-precision-aware-optimizer"}));
  const CliRun bf16 =
      run(llama70b({"--use-precision-aware-optimizer", "--exp-avg-dtype", "bf16", "--exp-avg-sq-dtype", "bf16"}));
  ASSERT_EQ(fp32.code, 0) << fp32.err;
  ASSERT_EQ(bf16.code, 0) << bf16.err;
  const auto fj = fp32.json(), bj = bf16.json();
  for (std::size_t i = 0; i < fj["ranks"].size(); ++i) {
    const auto& a = fj["ranks"][i];
    const auto& b = bj["ranks"][i];
    // fp32 m and v: 2 x ceil(dense / dp) x 4 B (dp 8, cp 1; llama3 has no experts); bf16 exactly half.
    const std::uint64_t dense = a["dense_parameters"].get<std::uint64_t>();
    const std::uint64_t held = (dense + 7) / 8;
    EXPECT_EQ(a["bytes"]["optimizer_states"].get<std::uint64_t>(), 2 * held * 4);
    EXPECT_EQ(b["bytes"]["optimizer_states"].get<std::uint64_t>(), 2 * held * 2);
  }
}

TEST(LowPrecisionCli, ParamGatherStoresOneBytePerLinearWeight) {
  const CliRun base = run(llama70b({"--fp8-format", "hybrid", "--fp8-recipe", "mxfp8"}));
  const CliRun gather = run(llama70b({"--fp8-format", "hybrid", "--fp8-recipe", "mxfp8", "--fp8-param-gather"}));
  ASSERT_EQ(base.code, 0) << base.err;
  ASSERT_EQ(gather.code, 0) << gather.err;
  // The same linear weights either way; --fp8-param-gather drops their bf16 copy (2 B per element), and the rowwise
  // fp8 data (1 B per element) is then the parameter instead of a cache: params shrink by exactly 2 B x n.
  const auto bj = base.json(), gj = gather.json();
  const auto& b = bj["ranks"][0];
  const auto& g = gj["ranks"][0];
  std::uint64_t n = 0;
  for (const auto& t : b["model_state_terms"])
    if (t["name"] == "fp8 weight cache (rowwise)") {
      n = t["elements"].get<std::uint64_t>();
      EXPECT_EQ(t["bytes"].get<std::uint64_t>(), n);
    }
  ASSERT_GT(n, 0u);
  EXPECT_EQ(b["bytes"]["params"].get<std::uint64_t>() - g["bytes"]["params"].get<std::uint64_t>(), 2 * n);
}

TEST(LowPrecisionCli, MegatronArgumentsReadTheSameFlags) {
  const CliRun flags = run(llama70b({"--use-precision-aware-optimizer", "--exp-avg-dtype", "bf16", "--exp-avg-sq-dtype",
                                     "fp8", "--fp8-format", "hybrid", "--fp8-recipe", "blockwise"}));
  const CliRun megatron = run(llama70b({"--megatron-args",
                                        "--use-precision-aware-optimizer --exp-avg-dtype bf16 --exp-avg-sq-dtype fp8 "
                                        "--fp8-format hybrid --fp8-recipe blockwise --fp8-amax-compute-algo max"}));
  ASSERT_EQ(flags.code, 0) << flags.err;
  ASSERT_EQ(megatron.code, 0) << megatron.err;
  EXPECT_EQ(flags.json()["ranks"], megatron.json()["ranks"]);
}

struct Check {
  Args args;
  std::string expect;
};

TEST(LowPrecisionCli, InputChecksExitTwoNamingFieldAndValue) {
  const std::vector<Check> checks = {
      {{"--exp-avg-dtype", "fp64"}, "exp_avg_dtype = fp64: must be one of fp32, fp16, bf16, fp8"},
      {{"--main-grads-dtype", "fp16"}, "main_grads_dtype = fp16: must be one of fp32, bf16"},
      {{"--main-params-dtype", "bf16"}, "main_params_dtype = bf16: must be one of fp32, fp16"},
      {{"--exp-avg-dtype", "bf16"}, "exp_avg_dtype = bf16: can only be fp32 without use_precision_aware_optimizer"},
      {{"--use-precision-aware-optimizer", "--zero-stage", "0"},
       "use_precision_aware_optimizer = true: only supported with the distributed optimizer"},
      {{"--use-precision-aware-optimizer", "--optimizer", "sgd"},
       "use_precision_aware_optimizer = true: only supported with adam"},
      {{"--fp8-format", "e5m2"}, "fp8_format = e5m2: must be one of e4m3, hybrid"},
      {{"--fp8-recipe", "mxfp8"}, "fp8_recipe = mxfp8: needs fp8_format e4m3 or hybrid"},
      {{"--fp8-format", "hybrid", "--fp8-recipe", "custom"}, "fp8_recipe = custom: must be one of"},
      {{"--fp8-format", "hybrid", "--fp8-param-gather", "--zero-stage", "0"},
       "fp8_param_gather = true: only supported with the distributed optimizer"},
      {{"--fp8-param-gather"}, "fp8_param_gather = true: needs fp8_format or fp4_format"},
      {{"--fp4-format", "e2m1", "--fp8-format", "hybrid"}, "fp4_format = e2m1: and fp8_format cannot be used together"},
      {{"--fp4-param-gather"}, "fp4_param_gather = true: must be used together with fp4_format"},
      {{"--fp8-format", "hybrid", "--num-layers-at-start-in-bf16", "-1"}, "num_layers_at_start_in_bf16 = -1:"},
      {{"--fp8-format", "hybrid", "--fp8-amax-history-len", "0"}, "fp8_amax_history_len = 0:"},
      {{"--first-last-layers-bf16"}, "first_last_layers_bf16 = true: needs fp8_format or fp4_format"},
      {{"--fp8-format", "hybrid", "--recipe", "fp32"}, "fp8_format = hybrid: models Megatron + TE"},
  };
  for (const auto& c : checks) {
    Args a = {"estimate", "--model", "llama2-7b", "--dp", "8"};
    // The distributed optimizer unless the case sets the stage itself.
    if (std::find(c.args.begin(), c.args.end(), "--zero-stage") == c.args.end())
      a.push_back("--use-distributed-optimizer");
    if (std::find(c.args.begin(), c.args.end(), "--recipe") == c.args.end())
      a.insert(a.end(), {"--recipe", "megatron"});
    a.insert(a.end(), c.args.begin(), c.args.end());
    const CliRun r = run(a);
    SCOPED_TRACE(c.expect);
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.err.find("trainmem: error: " + c.expect), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace trainmem::tools::test

namespace trainmem::tools::test {
namespace {

// `trainmem plan` counts the FP8 weight terms per stage as estimate() does: the planned peak of a layout is
// estimate()'s max_peak_bytes byte for byte, through the printed Reproduce command.
TEST(LowPrecisionCli, PlannedFp8LayoutReproducesWithEstimate) {
  const std::string yaml = std::string(TRAINMEM_SOURCE_DIR) + "/scenarios/plan_100b_b200_fp8.yaml";
  const CliRun plan = run({"plan", yaml, "--tp", "4", "--pp", "4", "--dp", "1", "--vpp", "1", "--micro-batch-size", "1",
                           "--recompute-granularity", "none", "--sequence-parallel", "--no-simulate", "--top", "1"});
  ASSERT_EQ(plan.code, 0) << plan.err;
  std::smatch best, repro;
  ASSERT_TRUE(std::regex_search(plan.out, best, std::regex(R"(# Best +peak [0-9.]+ GiB \(([0-9,]+) bytes\))")));
  ASSERT_TRUE(std::regex_search(plan.out, repro, std::regex(R"(# Reproduce +trainmem (estimate [^\n]+))")));
  std::string planned = best[1];
  planned.erase(std::remove(planned.begin(), planned.end(), ','), planned.end());
  Args args;
  std::istringstream words(repro[1].str());
  for (std::string w; words >> w;) args.push_back(w);
  args.insert(args.end(), {"--format", "json"});
  const CliRun est = run(args);
  ASSERT_EQ(est.code, 0) << est.err;
  EXPECT_EQ(est.json()["max_peak_bytes"].get<std::uint64_t>(), std::stoull(planned));
}

}  // namespace
}  // namespace trainmem::tools::test
