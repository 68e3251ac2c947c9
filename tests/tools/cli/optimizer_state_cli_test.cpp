// Low-bit and 1-bit optimizers through the command line (docs/model-states.md, "Optimizer-state formats"):
// the explain table of bytes per parameter beside 16/18/20, the estimate's terms, and the refusals (exit 2, one
// line naming the field and value).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

using Args = std::vector<std::string>;

TEST(OptimizerStateCli, ExplainTablesEveryOptimizerBesideSixteenEighteenTwenty) {
  const CliRun r = run({"estimate", "--num-parameters", "1e9", "--dp", "8", "--recipe", "megatron", "--optimizer",
                        "adamw-torchao-4bit", "--explain"});
  ASSERT_EQ(r.code, 0) << r.err;
  // Rows by hand (mixed-16 = 8 B + states, mixed-18 = 10, mixed-20 = 12, fp32 = 8, bf16 = 4 B without states):
  //   adam: m, v in the recipe's dtype, 8 B (bf16: 4)          -> 16, 18, 20, 16, 8
  //   4-bit: 2 x (0.5 + 4/128) = 1.0625                          -> 9.0625, 11.0625, 13.0625, 9.0625, 5.0625
  //   8-bit: 2 x (1 + 4/256) = 2.03125                           -> 10.03125, 12.03125, 14.03125, 10.03125, 6.03125
  //   1-bit Adam at N = 8: 8 + 4 + 4/8 = 12.5 (bf16 moments 4)   -> 20.5, 22.5, 24.5, 20.5, 12.5
  //   0/1 Adam: + 4 fp32 accumulator                             -> 24.5, 26.5, 28.5, 24.5, 16.5
  //   1-bit LAMB: + fresh v in the moment dtype (bf16: 2)         -> 24.5, 26.5, 28.5, 24.5, 14.5
  for (const char* row : {"adam                        16        18        20        16         8",
                          "adamw-torchao-4bit      9.0625   11.0625   13.0625    9.0625    5.0625",
                          "adam-8bit             10.03125  12.03125  14.03125  10.03125   6.03125",
                          "onebit-adam               20.5      22.5      24.5      20.5      12.5",
                          "zero-one-adam             24.5      26.5      28.5      24.5      16.5",
                          "onebit-lamb               24.5      26.5      28.5      24.5      14.5",
                          "This scenario: mixed-18 + adamw-torchao-4bit = 11.0625 bytes per parameter"})
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
}

TEST(OptimizerStateCli, OnebitAdamAddsItsErrorBuffers) {
  // 1,000,000 parameters, dp 6, ZeRO 0: worker_error round_up(10^6, 6 x lcm(6, 8) = 144) = 1,000,080 fp32
  // = 4,000,320 B; server_error 1,000,080 / 6 = 166,680 fp32 = 666,720 B.
  const CliRun r = run({"estimate", "--num-parameters", "1000000", "--dp", "6", "--recipe", "deepspeed", "--optimizer",
                        "onebit-adam", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("1-bit worker_error (error feedback)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4000320"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("666720"), std::string::npos) << r.out;
}

TEST(OptimizerStateCli, RefusalsExitTwoNamingFieldAndValue) {
  struct Check {
    Args args;
    const char* message;
  };
  const std::vector<Check> checks = {
      {{"estimate", "--num-parameters", "1e9", "--dp", "8", "--optimizer", "onebit-adam", "--zero-stage", "1"},
       "optimizer = onebit-adam: is not compatible with ZeRO (DeepSpeed engine.py asserts it); zero_stage is 1"},
      {{"estimate", "--model", "gpt2", "--optimizer", "zero-one-adam", "--framework", "hf"},
       "optimizer = zero-one-adam: is a DeepSpeed optimizer; framework hf models PyTorch DDP/FSDP"},
      {{"plan", "--model", "llama2-7b", "--gpu", "h100-80gb", "--global-batch-size", "8", "--optimizer", "onebit-lamb"},
       "optimizer = onebit-lamb: its error-feedback buffers depend on the data-parallel size"},
      {{"estimate", "--num-parameters", "1e9", "--optimizer", "adamw-8bit"}, "optimizer = adamw-8bit: unknown; one of"},
  };
  for (const Check& c : checks) {
    const CliRun r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.message << "\n" << r.out;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace trainmem::tools::test
