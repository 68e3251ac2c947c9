// The report files: `simulate --trace` (Chrome trace event JSON), `simulate --html`, `estimate --html` and
// `plan --html` (the JSON the page carries). Expected values are derived in the comments; the browser side
// (drawing, hover, zoom) is html_report_chromium.py's.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

fs::path work_dir() {
  const auto dir = fs::temp_directory_path() / "trainmem_report_files_test";
  fs::create_directories(dir);
  return dir;
}

// The JSON a report page embeds (<script type="application/json" id="trainmem-data">).
nlohmann::json page_data(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"trainmem-data\">";
  const auto a = page.find(open);
  const auto b = page.find("</script>", a);
  if (a == std::string::npos || b == std::string::npos) return nullptr;
  return nlohmann::json::parse(page.substr(a + open.size(), b - a - open.size()));
}

const std::vector<std::string> kGpt3Pp8 = {"--model",
                                           "gpt3-175b",
                                           "--tp",
                                           "8",
                                           "--pp",
                                           "8",
                                           "--dp",
                                           "8",
                                           "--sequence-parallel",
                                           "--recompute-granularity",
                                           "selective",
                                           "--global-batch-size",
                                           "512",
                                           "--gpu",
                                           "a100-80gb"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

TEST(ChromeTrace, CountersSlicesAndPeaksOfGpt3) {
  const std::string trace = (work_dir() / "t.json").string();
  const CliRun r = run(with(with({"simulate"}, kGpt3Pp8), {"--trace", trace, "--format", "json"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto stages = r.json()["stages"];
  const auto j = nlohmann::json::parse(slurp(trace));
  EXPECT_EQ(j["displayTimeUnit"], "ms");
  EXPECT_NE(j["otherData"]["time_unit"].get<std::string>().find("1 us = 1 simulated event"), std::string::npos);
  // Per stage (pid = pp rank; all 8 stages differ): the categories carried forward, the largest total, the slices.
  std::map<int, std::map<std::string, std::uint64_t>> held;
  std::map<int, std::uint64_t> max_total, peak_mark;
  std::map<int, std::multiset<std::string>> slices;
  std::map<int, std::set<std::string>> forward_layers;
  for (const auto& e : j["traceEvents"]) {
    const int pid = e["pid"];
    if (e["ph"] == "C") {
      EXPECT_EQ(e["name"], "stage " + std::to_string(pid));
      std::uint64_t sum = 0;
      for (const auto& [k, v] : e["args"].items())
        if (k != "allocated (bytes)") held[pid][k] = v.get<std::uint64_t>();
      for (const auto& [k, v] : held[pid]) sum += v;
      // A category is written only when it changed: what is held still adds up to the total.
      EXPECT_EQ(sum, e["args"]["allocated (bytes)"].get<std::uint64_t>());
      max_total[pid] = std::max(max_total[pid], sum);
    } else if (e["ph"] == "X") {
      slices[pid].insert(e["name"].get<std::string>());
      if (e["name"].get<std::string>().rfind("forward", 0) == 0) forward_layers[pid].insert(e["args"]["layers"]);
    } else if (e["ph"] == "i") {
      peak_mark[pid] = e["args"]["bytes"];
    }
  }
  ASSERT_EQ(max_total.size(), 8u);
  for (int p = 0; p < 8; ++p) {
    SCOPED_TRACE("stage " + std::to_string(p));
    // Downsampling keeps the peak sample, and the peak marker carries it.
    EXPECT_EQ(max_total[p], stages[p]["peak_bytes"].get<std::uint64_t>());
    EXPECT_EQ(peak_mark[p], stages[p]["peak_bytes"].get<std::uint64_t>());
    // 1F1B without interleaving: one forward and one backward slice per microbatch (512 / 8 = 64) on every stage.
    for (int mb = 0; mb < 64; ++mb) {
      EXPECT_EQ(slices[p].count("forward mb " + std::to_string(mb)), 1u);
      EXPECT_EQ(slices[p].count("backward mb " + std::to_string(mb)), 1u);
    }
    // Besides them, only the setup (model states allocated) and, when the recipe has step-time scratch, the
    // optimizer step: every slice name once.
    EXPECT_EQ(slices[p].count("setup"), 1u);
    EXPECT_EQ(slices[p].size(), 2u * 64u + 1u + slices[p].count("optimizer step"));
    EXPECT_LE(slices[p].count("optimizer step"), 1u);
    // Stage p holds layers 12p .. 12p + 11 (96 layers / 8 stages).
    EXPECT_EQ(forward_layers[p], (std::set<std::string>{std::to_string(12 * p) + "-" + std::to_string(12 * p + 11)}));
  }
}

TEST(HtmlReport, SimulatePageIsSelfContainedAndKeepsThePeaks) {
  const std::string html = (work_dir() / "r.html").string();
  const CliRun r = run(with(with({"simulate"}, kGpt3Pp8), {"--html", html, "--format", "json"}));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string page = slurp(html);
  // No network: the only URL is the SVG namespace, and no script, style or image is loaded from elsewhere.
  std::string rest = page;
  for (auto at = rest.find("http://www.w3.org/2000/svg"); at != std::string::npos;
       at = rest.find("http://www.w3.org/2000/svg"))
    rest.erase(at, 26);
  EXPECT_EQ(rest.find("http://"), std::string::npos);
  EXPECT_EQ(rest.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  const auto d = page_data(page);
  ASSERT_TRUE(d.is_object());
  EXPECT_EQ(d["kind"], "simulate");
  // The A100 80GB: 80 GiB = 85,899,345,920 bytes; the safety budget keeps 10% free: 77,309,411,328.
  EXPECT_EQ(d["device"]["bytes"].get<std::uint64_t>(), 85'899'345'920ULL);
  EXPECT_EQ(d["budget"]["bytes"].get<std::uint64_t>(), 77'309'411'328ULL);
  const auto stages = r.json()["stages"];
  ASSERT_EQ(d["stages"].size(), 8u);
  for (std::size_t p = 0; p < 8; ++p) {
    const auto& s = d["stages"][p];
    const auto& x = s["x"];
    EXPECT_LE(x.size(), 2u * 400u + 3u);
    // The sample at the peak event is kept and its categories add up to the stage's peak.
    std::size_t at = x.size();
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i] == s["peak_x"]) at = i;
    ASSERT_LT(at, x.size());
    std::uint64_t sum = 0;
    for (const auto& series : s["series"])
      sum += series.is_array() ? series[at].get<std::uint64_t>() : series.get<std::uint64_t>();
    EXPECT_EQ(sum, stages[p]["peak_bytes"].get<std::uint64_t>());
    EXPECT_EQ(s["peak_text"], stages[p]["peak_event"]);
  }
  EXPECT_EQ(d["classes"].size(), 8u);
}

TEST(HtmlReport, Gpt3On1024GpusWithTraceStaysUnderFiveMegabytes) {
  const auto dir = work_dir();
  const CliRun r = run({"simulate", TRAINMEM_SOURCE_DIR "/scenarios/gpt3_175b_megatron.yaml", "--html",
                        (dir / "big.html").string(), "--trace", (dir / "big.json").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto bytes = fs::file_size(dir / "big.html") + fs::file_size(dir / "big.json");
  EXPECT_LT(bytes, 5'000'000u) << "html " << fs::file_size(dir / "big.html") << ", trace "
                               << fs::file_size(dir / "big.json");
}

TEST(HtmlReport, EstimatePageHasEveryRankClass) {
  const std::string html = (work_dir() / "e.html").string();
  const CliRun r = run({"estimate", TRAINMEM_SOURCE_DIR "/scenarios/gpt3_175b_megatron.yaml", "--html", html});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto d = page_data(slurp(html));
  EXPECT_EQ(d["kind"], "estimate");
  ASSERT_EQ(d["classes"].size(), 16u);  // pp 16: each stage keeps a different number of microbatches
  for (const auto& c : d["classes"]) {
    std::uint64_t sum = 0;
    for (const auto& b : c["bytes"]) sum += b.get<std::uint64_t>();
    EXPECT_EQ(sum, c["peak"].get<std::uint64_t>());  // training: the peak is the categories' sum
  }
  EXPECT_EQ(d["classes"][0]["ranks"], "0-63");
  // --inference: the KV cache is in the peak (peak = categories + KV cache) but in no category; the page adds it.
  const std::string inf = (work_dir() / "inf.html").string();
  ASSERT_EQ(run({"estimate", TRAINMEM_SOURCE_DIR "/scenarios/inference_llama2_70b.yaml", "--html", inf}).code, 0);
  const auto inf_data = page_data(slurp(inf));  // a named json: the loop below must not outlive it
  for (const auto& c : inf_data["classes"]) {
    std::uint64_t sum = 0;
    for (const auto& b : c["bytes"]) sum += b.get<std::uint64_t>();
    ASSERT_TRUE(c.contains("extra"));
    EXPECT_GT(c["extra"]["bytes"].get<std::uint64_t>(), 0u);
    EXPECT_EQ(sum + c["extra"]["bytes"].get<std::uint64_t>(), c["peak"].get<std::uint64_t>());
  }
}

TEST(HtmlReport, PlanPageChartsTheSearchWithTheChosenLayout) {
  const std::string html = (work_dir() / "p.html").string();
  const CliRun r =
      run({"plan", TRAINMEM_SOURCE_DIR "/scenarios/plan_100b_h100.yaml", "--max-gpus", "64", "--html", html});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto d = page_data(slurp(html));
  EXPECT_EQ(d["kind"], "plan");
  // H100 80GB: 81,559 MiB = 85,520,809,984 bytes; 10% kept free: 85,520,809,984 - ceil(8,552,080,998.4).
  const std::uint64_t budget = 76'968'728'985ULL;
  EXPECT_EQ(d["budget"]["bytes"].get<std::uint64_t>(), budget);
  std::size_t chosen = 0, over = 0;
  for (const auto& p : d["points"]) {
    const std::string status = p["status"];
    // The verdict: the replayed peak where the layout was replayed (estimate() may exceed the budget there: issue 18
    // item 3), else estimate()'s.
    const std::uint64_t peak =
        p["sim_peak"].is_null() ? p["peak"].get<std::uint64_t>() : p["sim_peak"].get<std::uint64_t>();
    if (status == "over" || status == "bound" || status == "rejected") {
      ++over;
      EXPECT_GT(peak, budget) << p.dump();
    } else {
      EXPECT_LE(peak, budget) << p.dump();
    }
    if (status == "chosen") {
      ++chosen;
      // The chosen layout's command is the one the table prints.
      const auto line = r.out.find("# Reproduce  ");
      ASSERT_NE(line, std::string::npos);
      EXPECT_EQ(p["cmd"], r.out.substr(line + 13, r.out.find('\n', line) - line - 13));
      EXPECT_EQ(p["gpus"], 24);  // the scenario's answer: 3 nodes (its comment derives the bound of 21.04 GPUs)
    }
  }
  EXPECT_EQ(chosen, 1u);
  EXPECT_GT(over, 0u);
}

}  // namespace
}  // namespace trainmem::tools::test
