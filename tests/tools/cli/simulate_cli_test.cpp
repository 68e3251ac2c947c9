// `trainmem simulate` through the public CLI: the GPT-3 acceptance command, trace and HTML files
// (their contents: report_files_test.cpp).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(SimulateCli, Gpt3StageZeroPeaksInTheFirstBackward) {
  const auto dir = std::filesystem::temp_directory_path() / "trainmem_simulate_cli";
  std::filesystem::create_directories(dir);
  const std::string trace = (dir / "t.json").string(), html = (dir / "r.html").string();
  const CliRun r =
      run({"simulate", "--model", "gpt3-175b", "--tp", "8", "--pp", "8", "--dp", "8", "--sequence-parallel",
           "--recompute-granularity", "selective", "--global-batch-size", "512", "--trace", trace, "--html", html});
  ASSERT_EQ(r.code, 0) << r.err;
  // Stage 0 of 1F1B holds pp = 8 microbatches after warm-up; the first backward (microbatch 0) rebuilds the
  // attention core and holds activation gradients on top of that: the peak is there.
  EXPECT_NE(r.out.find("backward, microbatch 0, layer 11 (chunk 0), stage 0"), std::string::npos) << r.out;
  // The trace is Chrome trace event JSON with counter ("C") and slice ("X") events for every stage.
  const auto j = nlohmann::json::parse(slurp(trace));
  std::size_t counters = 0, slices = 0, names = 0;
  for (const auto& e : j["traceEvents"]) {
    counters += e["ph"] == "C";
    slices += e["ph"] == "X";
    names += e["ph"] == "M";
  }
  EXPECT_EQ(names, 3u * 8u);  // per stage (all 8 differ): process name, sort index, thread name
  EXPECT_GT(counters, 1000u);
  EXPECT_GT(slices, 8u * 64u);  // at least a forward slice per microbatch per stage
  // The HTML page (its contents: report_files_test.cpp; in a browser: html_report_chromium.py).
  EXPECT_NE(slurp(html).find("id=\"trainmem-data\""), std::string::npos);
}

TEST(SimulateCli, JsonHasStagesAndErrorsAreInputErrors) {
  const CliRun r =
      run({"simulate", "--model", "llama2-7b", "--pp", "2", "--global-batch-size", "8", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  ASSERT_EQ(j["stages"].size(), 2u);
  EXPECT_EQ(j["schedule"], "1f1b");
  EXPECT_EQ(j["stages"][0]["max_live_microbatches"], 2);  // min(pp - 0, 8)
  EXPECT_EQ(j["stages"][1]["max_live_microbatches"], 1);
  const CliRun bad = run({"simulate", "--model", "llama2-7b", "--trace"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("trace"), std::string::npos);
  const CliRun unwritable = run({"simulate", "--model", "llama2-7b", "--html", "/nonexistent/dir/r.html"});
  EXPECT_EQ(unwritable.code, 2);
  EXPECT_NE(unwritable.err.find("html = /nonexistent/dir/r.html"), std::string::npos) << unwritable.err;
}

}  // namespace
}  // namespace trainmem::tools::test

namespace trainmem::tools::test {
namespace {

TEST(SimulateCli, DeepSpeedKnobsSizeTheBuffers) {
  // ZeRO-2 on llama2-7b, dp 8: the gradient bucket is reduce_bucket_size * 2 bytes, doubled by overlap_comm.
  // 2e8 elements with overlap_comm: 2 * 2e8 * 2 = 8e8 bytes of buffers on every rank.
  const CliRun r = run({"simulate", "--model", "llama2-7b", "--dp", "8", "--zero-stage", "2", "--reduce-bucket-size",
                        "2e8", "--overlap-comm", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.json()["stages"][0]["category_max_bytes"]["buffers"].get<std::uint64_t>(), 800'000'000ULL);
  // PyTorch DDP (zero_stage 0, mixed-16, dp 8): the Reducer's buckets hold a second copy of the bf16
  // gradients, 2 * 6,738,415,616 bytes, unless they are views of the gradients.
  const CliRun ddp = run({"simulate", "--model", "llama2-7b", "--dp", "8", "--format", "json"});
  EXPECT_EQ(ddp.json()["stages"][0]["category_max_bytes"]["buffers"].get<std::uint64_t>(), 2 * 6'738'415'616ULL);
  const CliRun view =
      run({"simulate", "--model", "llama2-7b", "--dp", "8", "--ddp-gradient-as-bucket-view", "--format", "json"});
  EXPECT_EQ(view.json()["stages"][0]["category_max_bytes"]["buffers"].get<std::uint64_t>(), 0u);
  const CliRun bad = run({"simulate", "--model", "llama2-7b", "--reduce-bucket-size", "0"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("reduce_bucket_size = 0"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace trainmem::tools::test
