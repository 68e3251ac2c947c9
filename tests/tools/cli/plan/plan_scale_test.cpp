// `trainmem plan` at scale through the real command line: a 671B MoE model (deepseek-v3) up to 16,384 GPUs and a
// global batch of 2^20 sequences, each answer reproduced by `trainmem estimate` (the same worst-rank peak) and
// `trainmem simulate` (the same replayed peak); and the simulator's refusal to keep a timeline of 2^20 microbatches.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

// Runs plan, then every listed layout's reproducing command under estimate and simulate.
void expect_layouts_reproduce(const std::vector<std::string>& plan_args, std::int64_t min_layouts) {
  const CliRun r = run(plan_args);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  ASSERT_TRUE(j["fits"].get<bool>());
  ASSERT_GE(static_cast<std::int64_t>(j["layouts"].size()), min_layouts);
  const std::uint64_t budget = j["config"]["budget_bytes"];
  for (const auto& l : j["layouts"]) {
    const std::uint64_t peak = l["max_peak_bytes"];
    EXPECT_LE(peak, budget);
    std::vector<std::string> args = l["estimate_args"];
    args.insert(args.end(), {"--format", "json"});
    const CliRun e = run(args);
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_EQ(e.json()["max_peak_bytes"].get<std::uint64_t>(), peak);
    EXPECT_EQ(e.json()["world_size"], l["world_size"]);
    args[0] = "simulate";
    const CliRun s = run(args);
    ASSERT_EQ(s.code, 0) << s.err;
    EXPECT_EQ(s.json()["simulated_max_peak_bytes"].get<std::uint64_t>(),
              l["simulated_max_peak_bytes"].get<std::uint64_t>());
  }
}

TEST(PlanScale, DeepSeekV3MinGpusReproducesWithEstimate) {
  // 671,026,419,200 parameters, 256 experts: expert parallel sizes are searched (ep divides 256).
  expect_layouts_reproduce(
      {"plan", "--model", "deepseek-v3", "--gpu", "h100-80gb", "--seq-length", "4096", "--global-batch-size", "4096",
       "--max-gpus", "16384", "--min-gpus", "--top", "3", "--format", "json"},
      1);
}

TEST(PlanScale, HugeGlobalBatchReproducesWithEstimateAndSimulate) {
  // 2^20 sequences on 8 GPUs: up to 2^20 microbatches per step, replayed in a bounded number of them.
  expect_layouts_reproduce({"plan", "--model", "llama2-7b", "--gpu", "a100-80gb", "--global-batch-size", "1048576",
                            "--num-gpus", "8", "--top", "3", "--format", "json"},
                           3);
}

TEST(PlanScale, TableColumnsStaySeparatedWithSixDigitMicrobatchCounts) {
  // m = 2^20 / (dp x mbs) has 6 or 7 digits here: every row still splits into as many fields as the header.
  const CliRun r = run({"plan", "--model", "llama2-7b", "--gpu", "a100-80gb", "--global-batch-size", "1048576",
                        "--num-gpus", "8", "--top", "5"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::size_t header = 0, rows = 0;
  auto fields = [](const std::string& line) {
    std::istringstream in(line);
    std::size_t n = 0;
    for (std::string w; in >> w;) ++n;
    return n;
  };
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("#rank", 0) == 0) header = fields(line) - 1;  // "sim peak" is one column
    if (header != 0 && !line.empty() && line[0] == ' ') {
      EXPECT_EQ(fields(line), header) << line;
      ++rows;
    }
  }
  EXPECT_EQ(rows, 5u);
}

TEST(PlanScale, SimulateRefusesATimelineOfAMillionMicrobatches) {
  const std::vector<std::string> job = {"simulate", "--model", "llama2-7b", "--tp", "8", "--global-batch-size",
                                        "1048576",  "--gpu",   "a100-80gb"};
  const CliRun ok = run(job);  // peaks only: fine
  EXPECT_LE(ok.code, 1) << ok.err;
  std::vector<std::string> traced = job;
  traced.insert(traced.end(), {"--trace", "/dev/null"});
  const CliRun bad = run(traced);
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("num_microbatches = 1048576"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("at most 16384 microbatches"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace trainmem::tools::test
