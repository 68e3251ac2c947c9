// `trainmem estimate --deepspeed-estimator` through the public CLI.
#include <gtest/gtest.h>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

TEST(DeepSpeedEstimatorCli, Zero3ParamAndOptimizerOffloadJson) {
  // DeepSpeed stage3.py, cpu_offload and cpu_offload_params, zero_init: gpu = 4 * largest_layer;
  // cpu = total * 18 * (1 / num_nodes) * 1.5. With 7e9 params, a 262,144,000-param largest layer, 2 nodes:
  // gpu = 1,048,576,000; cpu = 7e9 * 18 * 0.5 * 1.5 = 94,500,000,000.
  const CliRun r = run({"estimate",
                        "--deepspeed-estimator",
                        "--num-parameters",
                        "7e9",
                        "--largest-layer-parameters",
                        "262144000",
                        "--num-nodes",
                        "2",
                        "--gpus-per-node",
                        "8",
                        "--zero-stage",
                        "3",
                        "--offload-optimizer",
                        "cpu",
                        "--offload-param",
                        "cpu",
                        "--zero-init",
                        "1",
                        "--format",
                        "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(j["deepspeed_estimator"]["gpu_bytes"].get<std::uint64_t>(), 1'048'576'000ULL);
  EXPECT_EQ(j["deepspeed_estimator"]["cpu_bytes"].get<std::uint64_t>(), 94'500'000'000ULL);
}

TEST(DeepSpeedEstimatorCli, Zero2TableAndErrors) {
  // ZeRO-2 without offload on 1 node x 4 GPUs: 2 * 1e9 + int(18e9 / 4) = 6,500,000,000 bytes per GPU.
  const CliRun r = run(
      {"estimate", "--deepspeed-estimator", "--num-parameters", "1e9", "--gpus-per-node", "4", "--zero-stage", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("6,500,000,000 bytes"), std::string::npos) << r.out;
  const CliRun bad = run({"estimate", "--deepspeed-estimator", "--num-parameters", "1e9", "--zero-stage", "1"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("zero_stage = 1"), std::string::npos) << bad.err;
  const CliRun missing = run({"estimate", "--deepspeed-estimator", "--num-parameters", "1e9", "--zero-stage", "3"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("largest_layer_parameters"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace trainmem::tools::test
