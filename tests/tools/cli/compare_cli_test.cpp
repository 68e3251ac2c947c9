// `trainmem compare --measured`: the ground-truth lab's snapshot fixture (tests/tools/cli/snapshots/, written by
// `lab.py snapshot llama-bf16-adamw-for-loop-s128-b1` from a real CPU training step) replayed by trainmem must give
// the lab's own figures, read here from the lab's JSON written in the same run: the peak of requested bytes
// (peak_bytes_unrounded), of 512 B blocks (peak_bytes) and the emulated reserved peak (reserved_emulated).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools {
namespace {

using test::run;
const std::string kDir = std::string(TRAINMEM_SOURCE_DIR) + "/tests/tools/cli/snapshots/";

nlohmann::json lab() {
  std::ifstream f(kDir + "lab_llama_s128_b1.json");
  return nlohmann::json::parse(f);
}

// The lab's trainmem flags, with its repository-relative model config made absolute.
std::vector<std::string> lab_args(const nlohmann::json& r, const std::string& measured) {
  std::vector<std::string> args{"compare"};
  for (const auto& f : r["trainmem_flags"]) {
    std::string a = f.get<std::string>();
    if (a.rfind("tools/", 0) == 0) a = std::string(TRAINMEM_SOURCE_DIR) + "/" + a;
    args.push_back(a);
  }
  args.insert(args.end(), {"--measured", measured, "--format", "json"});
  return args;
}

TEST(CompareCli, SnapshotReplayGivesTheLabsPeaksToTheByte) {
  const nlohmann::json r = lab();
  const nlohmann::json& rank = r["measured"]["ranks"][0];
  const auto cli = run(lab_args(r, kDir + "lab_llama_s128_b1.pickle"));
  ASSERT_EQ(cli.code, 0) << cli.err;
  const nlohmann::json j = cli.json();
  const nlohmann::json& dev = j["measured"]["devices"][0];
  EXPECT_EQ(j["measured"]["devices"].size(), 1u);
  EXPECT_EQ(dev["allocated_peak_bytes"], rank["peak_bytes_unrounded"]);
  EXPECT_EQ(dev["allocated_peak_block_bytes"], rank["peak_bytes"]);
  EXPECT_EQ(j["measured"]["peak_bytes"], r["measured"]["max_peak_bytes"]);
  EXPECT_EQ(dev["reserved_peak_bytes"], rank["reserved_emulated"]["peak_reserved"]);
  EXPECT_EQ(j["measured"]["reserved_peak_bytes"], rank["reserved_emulated"]["peak_reserved"]);
  // The difference is predicted - measured; trainmem's HF profile is within the lab's 3 % bound here. With the
  // runtime model off (the lab's flags) the device peak is the allocated bytes.
  EXPECT_EQ(j["predicted"]["peak_bytes"], j["predicted"]["allocated_bytes"]);
  const auto predicted = j["predicted"]["allocated_bytes"].get<std::int64_t>();
  const auto measured = r["measured"]["max_peak_bytes"].get<std::int64_t>();
  EXPECT_EQ(j["difference"]["allocated"]["bytes"].get<std::int64_t>(), predicted - measured);
  EXPECT_LT(std::abs(j["difference"]["allocated"]["percent"].get<double>()), 3.0);
}

TEST(CompareCli, LabJsonGivesCategories) {
  const nlohmann::json r = lab();
  const auto cli = run(lab_args(r, kDir + "lab_llama_s128_b1.json"));
  ASSERT_EQ(cli.code, 0) << cli.err;
  const nlohmann::json j = cli.json();
  EXPECT_EQ(j["measured"]["source"], "lab_json");
  EXPECT_EQ(j["measured"]["peak_bytes"], r["measured"]["max_peak_bytes"]);
  EXPECT_EQ(j["measured"]["categories"], r["measured"]["ranks"][0]["categories"]);
  // Each category's difference is predicted - measured (trainmem has no `inputs` category: 0 predicted), and the
  // lab's categories add up to its peak.
  std::int64_t sum = 0;
  for (const auto& [name, bytes] : r["measured"]["ranks"][0]["categories"].items()) {
    sum += bytes.get<std::int64_t>();
    EXPECT_EQ(j["difference"]["categories"][name]["bytes"].get<std::int64_t>(),
              j["predicted"]["categories"].value(name, std::int64_t{0}) - bytes.get<std::int64_t>())
        << name;
  }
  EXPECT_EQ(sum, r["measured"]["max_peak_bytes"].get<std::int64_t>());
  // The table prints the same lines.
  std::vector<std::string> args = lab_args(r, kDir + "lab_llama_s128_b1.json");
  args.resize(args.size() - 2);
  const auto table = run(args);
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("measured   lab llama-bf16-adamw-for-loop-s128-b1: peak 75,092,992 B"), std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("optimizer_states"), std::string::npos);
}

// The measured timeline of the fixture, downsampled for the JSON and the page, keeps the exact peaks the lab's JSON
// of the same run gives (peak_bytes in 512 B blocks, reserved_emulated.peak_reserved), with fewer samples than the
// trace has entries; the predicted timeline is the step replay of the compared class and peaks at its allocated
// bytes. A lab JSON has no trace: measured.timeline is null, the predicted timeline is still there.
TEST(CompareCli, TimelinesKeepTheExactPeaks) {
  const nlohmann::json r = lab();
  const nlohmann::json& rank = r["measured"]["ranks"][0];
  const auto cli = run(lab_args(r, kDir + "lab_llama_s128_b1.pickle"));
  ASSERT_EQ(cli.code, 0) << cli.err;
  const nlohmann::json j = cli.json();
  const nlohmann::json& t = j["measured"]["timeline"];
  ASSERT_TRUE(t.is_object()) << t;
  const auto max_of = [](const nlohmann::json& a) {
    std::uint64_t m = 0;
    for (const auto& v : a) m = std::max(m, v.get<std::uint64_t>());
    return m;
  };
  EXPECT_EQ(max_of(t["allocated"]["bytes"]), rank["peak_bytes"].get<std::uint64_t>());
  EXPECT_EQ(t["allocated"]["peak_bytes"], rank["peak_bytes"]);
  EXPECT_EQ(max_of(t["reserved"]["bytes"]), rank["reserved_emulated"]["peak_reserved"].get<std::uint64_t>());
  // 1470 allocs + 1428 frees + the segment events + the start: more than the 2 x 400 + 3 samples kept.
  EXPECT_GT(t["allocated"]["samples"].get<std::size_t>(), 2898u);
  EXPECT_LE(t["allocated"]["x"].size(), 803u);
  EXPECT_EQ(t["allocated"]["x"].size(), t["allocated"]["bytes"].size());
  EXPECT_EQ(t["x_last"], j["measured"]["devices"][0]["trace_entries"]);
  const nlohmann::json& p = j["predicted"]["timeline"];
  ASSERT_TRUE(p.is_object());
  EXPECT_EQ(p["stage"], 0);
  EXPECT_EQ(max_of(p["allocated"]["bytes"]), j["predicted"]["allocated_bytes"].get<std::uint64_t>());

  const auto from_lab = run(lab_args(r, kDir + "lab_llama_s128_b1.json"));
  ASSERT_EQ(from_lab.code, 0) << from_lab.err;
  EXPECT_TRUE(from_lab.json()["measured"]["timeline"].is_null());
  EXPECT_TRUE(from_lab.json()["predicted"]["timeline"].is_object());
}

TEST(CompareCli, InputErrorsExitTwo) {
  auto r = run({"compare", "--model", "gpt2"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("trainmem compare needs --measured FILE"), std::string::npos) << r.err;
  r = run({"compare", "--model", "gpt2", "--measured", kDir + "no_such.pickle"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("file not found"), std::string::npos) << r.err;
  r = run({"compare", "--model", "gpt2", "--measured", kDir});
  EXPECT_EQ(r.code, 2);
  r = run({"compare", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--measured FILE"), std::string::npos);
}

}  // namespace
}  // namespace trainmem::tools
