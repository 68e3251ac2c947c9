// `trainmem explain SCENARIO` and the scenario library (scenarios/*.yaml) through the public CLI. Every
// expected number is derived in the comment above its assertion from a paper's table or the model's shape,
// never taken from trainmem's own output.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

std::string scenario(const char* name) { return std::string(TRAINMEM_SOURCE_DIR) + "/scenarios/" + name; }

// The what-if row for knob = value.
const nlohmann::json& row(const nlohmann::json& j, const std::string& knob, const std::string& value) {
  for (const auto& r : j["what_if"])
    if (r["knob"] == knob && r["value"] == value) return r;
  ADD_FAILURE() << "no what-if row " << knob << " = " << value;
  static const nlohmann::json none;
  return none;
}
std::uint64_t states(const nlohmann::json& r) { return r["bytes"]["model_states"].get<std::uint64_t>(); }
std::uint64_t activ(const nlohmann::json& r) { return r["bytes"]["activations"].get<std::uint64_t>(); }

// The line of the text output that starts with `prefix`.
std::string line_starting(const std::string& text, const std::string& prefix) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find('\n', pos);
    const std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (line.rfind(prefix, 0) == 0) return line;
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return "";
}

// ZeRO paper (Rajbhandari et al. 2019), Figure 1 / Table 1: Ψ = 7.5B, Nd = 64, K = 12, GB = 10^9 bytes:
// baseline 120, P_os 31.4, P_os+g 16.6, P_os+g+p 1.88.
TEST(ExplainCli, ZeroPaper7p5BFourStagesMatchTheFigure) {
  const CliRun r = run({"explain", scenario("zero_paper_7p5b.yaml"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["command"], "explain");
  EXPECT_NE(j["question"].get<std::string>().find("7.5B"), std::string::npos);
  const std::uint64_t psi = 7'500'000'000ULL;
  const std::uint64_t shard = psi / 64;  // 117,187,500 exactly
  ASSERT_EQ(shard * 64, psi);
  // (2 + 2 + K) Ψ; 2Ψ + 2Ψ + KΨ/Nd; 2Ψ + (2 + K)Ψ/Nd; (2 + 2 + K)Ψ/Nd.
  const std::uint64_t expected[4] = {16 * psi, 4 * psi + 12 * shard, 2 * psi + 14 * shard, 16 * shard};
  const double paper_gb[4] = {120.0, 31.4, 16.6, 1.88};
  const double paper_unit[4] = {1.0, 0.1, 0.1, 0.01};  // last printed digit
  for (int stage = 0; stage < 4; ++stage) {
    const auto& w = row(j, "zero_stage", std::to_string(stage));
    EXPECT_EQ(w["is_scenario"], stage == 3);
    EXPECT_EQ(w["peak_bytes"].get<std::uint64_t>(), expected[stage]) << "stage " << stage;
    EXPECT_EQ(states(w), expected[stage]);
    EXPECT_LE(std::fabs(static_cast<double>(expected[stage]) / 1e9 - paper_gb[stage]), paper_unit[stage]);
  }
  // The rule of thumb: the whole model at 16, 18 and 20 bytes per parameter.
  const auto& thumbs = j["rule_of_thumb"]["recipes"];
  for (const auto& t : thumbs) {
    if (t["recipe"] == "mixed-16") {
      EXPECT_EQ(t["whole_model_bytes"].get<std::uint64_t>(), 120'000'000'000ULL);
    }
    if (t["recipe"] == "mixed-18") {
      EXPECT_EQ(t["whole_model_bytes"].get<std::uint64_t>(), 135'000'000'000ULL);
    }
    if (t["recipe"] == "mixed-20") {
      EXPECT_EQ(t["whole_model_bytes"].get<std::uint64_t>(), 150'000'000'000ULL);
    }
    if (t["recipe"] == "bf16") {
      EXPECT_EQ(t["whole_model_bytes"].get<std::uint64_t>(), 60'000'000'000ULL);
    }
  }
  // A bare parameter count has no activations: the recompute rows say why they are skipped.
  EXPECT_NE(row(j, "recompute_granularity", "full")["skipped"].get<std::string>().find("num_parameters"),
            std::string::npos);

  // The table prints the same figures in its GB (10^9 bytes) column: 120.00, 31.41, 16.64, 1.88.
  const CliRun t = run({"explain", scenario("zero_paper_7p5b.yaml")});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(line_starting(t.out, "  zero_stage            0").find("120.00"), std::string::npos) << t.out;
  EXPECT_NE(line_starting(t.out, "  zero_stage            1").find("31.41"), std::string::npos);
  EXPECT_NE(line_starting(t.out, "  zero_stage            2").find("16.64"), std::string::npos);
  EXPECT_NE(line_starting(t.out, "* zero_stage            3").find("1.88"), std::string::npos);
}

// "How much memory to train a 100B model": trainmem's gpt-100b preset, h = 10240, 80 layers, ffn 4h,
// vocab 51200, learned positions at seq 4096, tied embeddings, biases, LayerNorm.
TEST(ExplainCli, Train100BRuleOfThumbAndZeroStages) {
  const CliRun r = run({"explain", scenario("interview_train_100b.yaml"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  const std::uint64_t h = 10240;
  // Φ = 80 (12h^2 + 13h) + 51200 h + 4096 h + 2h (final LayerNorm) = 101,240,197,120.
  const std::uint64_t phi = 80 * (12 * h * h + 13 * h) + 51200 * h + 4096 * h + 2 * h;
  ASSERT_EQ(phi, 101'240'197'120ULL);
  EXPECT_EQ(j["rule_of_thumb"]["num_parameters"].get<std::uint64_t>(), phi);
  for (const auto& t : j["rule_of_thumb"]["recipes"]) {
    const std::uint64_t bpp = t["recipe"] == "mixed-16"   ? 16
                              : t["recipe"] == "mixed-18" ? 18
                              : t["recipe"] == "mixed-20" ? 20
                                                          : 0;
    // 16Φ = 1.62e12, 18Φ = 1.82e12, 20Φ = 2.02e12 bytes.
    if (bpp != 0) {
      EXPECT_EQ(t["whole_model_bytes"].get<std::uint64_t>(), bpp * phi) << t["recipe"];
    }
  }
  // One TP rank of 8 (pp 1): each layer 12h^2/8 + 7h/8 (split QKV and fc1 biases) + 2h (replicated out-proj and
  // fc2 biases) + 4h (two LayerNorms); vocab 51200 is already a multiple of 128 * 8, 6400 rows per rank;
  // positions 4096 h and the final LayerNorm 2h replicated.
  const std::uint64_t n = 80 * (12 * h * h / 8 + 7 * h / 8 + 6 * h) + 6400 * h + 4096 * h + 2 * h;
  ASSERT_EQ(n, 12'696'043'520ULL);
  ASSERT_EQ(n % 16, 0u);
  const std::uint64_t s = n / 16;  // dp = 16
  // mixed-16: ZeRO-0 16n; ZeRO-1 2n + 2n + 12n/dp; ZeRO-2 2n + 14n/dp; ZeRO-3 16n/dp.
  EXPECT_EQ(states(row(j, "zero_stage", "0")), 16 * n);
  EXPECT_EQ(states(row(j, "zero_stage", "1")), 4 * n + 12 * s);
  EXPECT_EQ(states(row(j, "zero_stage", "2")), 2 * n + 14 * s);
  // ZeRO-3 keeps the tensors under stage3_param_persistence_threshold (1e5 elements) whole on every rank: per
  // layer the QKV bias 3h/8 = 3,840, out-proj bias h = 10,240, the two LayerNorms 4h = 40,960, fc1 bias 4h/8 =
  // 5,120 and fc2 bias h = 10,240 -> 70,400 elements, of which the states hold ceil(70,400 / 16) = 4,400: + 2 B x
  // 66,000 x 80 layers = 10,560,000 B.
  EXPECT_EQ(states(row(j, "zero_stage", "3")), 16 * s + 2ULL * 66'000 * 80);
  EXPECT_EQ(row(j, "zero_stage", "1")["is_scenario"], true);
  // ZeRO shards model states only: the activations are the same in every ZeRO row up to stage 2. (Under ZeRO-3
  // the layer gathers move the peak to the last layer's backward, where one microbatch's loss extras are already
  // freed, so that row's `activations` at its peak point are lower: sim/accounting/stage_peak.hpp.)
  for (const char* st : {"0", "1", "2"}) EXPECT_EQ(activ(row(j, "zero_stage", st)), activ(row(j, "zero_stage", "1")));
  // Megatron's 18 (fp32 main_grad, unsharded by ZeRO-1): 2n + 4n + 12n/dp. DeepSpeed's 20: 2n + 2n + 16n/dp.
  EXPECT_EQ(states(row(j, "recipe", "mixed-18")), 6 * n + 12 * s);
  EXPECT_EQ(states(row(j, "recipe", "mixed-20")), 4 * n + 16 * s);
  EXPECT_EQ(j["answer"]["bytes"]["model_states"].get<std::uint64_t>(), 4 * n + 12 * s);
  EXPECT_EQ(j["answer"]["fits"], true);
}

// Llama-3-70B, ZeRO-3 over dp = 64, DeepSpeed's 20 bytes per parameter, full recompute at s = 8192.
TEST(ExplainCli, Llama3_70BZero3On64Gpus) {
  const CliRun r = run({"explain", scenario("llama3_70b_zero3_64gpu.yaml"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  // Hugging Face meta-llama/Meta-Llama-3-70B: 70,553,706,496 parameters; 128256 = 1002 * 128: no padding.
  const std::uint64_t phi = 70'553'706'496ULL;
  ASSERT_EQ(phi % 64, 0u);
  const std::uint64_t s = phi / 64;  // 1,102,401,664
  // + ZeRO-3's small tensors kept whole (under the 1e5 persistence threshold): the two RMSNorm weights 2 x 8192
  // per layer, of which the states hold ceil(16,384 / 64) = 256: 2 B x 16,128 x 80 layers = 2,580,480 B.
  EXPECT_EQ(j["answer"]["bytes"]["model_states"].get<std::uint64_t>(), 20 * s + 2ULL * 16'128 * 80);
  // ZeRO-0 20Φ; ZeRO-1 bf16 params + grads unsharded, fp32 grad copy + master + m + v sharded: 4Φ + 16Φ/64;
  // ZeRO-2 2Φ + 18Φ/64.
  EXPECT_EQ(states(row(j, "zero_stage", "0")), 20 * phi);
  EXPECT_EQ(states(row(j, "zero_stage", "1")), 4 * phi + 16 * s);
  EXPECT_EQ(states(row(j, "zero_stage", "2")), 2 * phi + 18 * s);
  EXPECT_EQ(row(j, "zero_stage", "3")["is_scenario"], true);
  // Full recompute keeps each layer's input: 2 * s * h bytes (bf16) per layer, 80 layers, one microbatch.
  const auto& act = j["estimate"]["ranks"][0]["activations"];
  EXPECT_EQ(act["layers_bytes"].get<std::uint64_t>(), 80ULL * 2 * 8192 * 8192);
  EXPECT_EQ(j["answer"]["fits"], true);
}

// Korthikanti et al. 2022, the 22B model (a = 64, h = 6144, L = 48, t = 8, s = 2048, b = 4, eager attention with
// dropout). Table 2 per layer: TP + SP sbh/t (34 + 5as/h); selective 34 sbh/t; full 2sbh/t.
TEST(ExplainCli, RecomputeSavesWhatKorthikantiTable2Says) {
  const std::uint64_t s = 2048, b = 4, h = 6144, a = 64, t = 8, L = 48;
  const CliRun r = run({"explain", scenario("interview_recompute.yaml"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  // Selective (the scenario): 48 * 34 sbh/t = 10,267,656,192 B = 9.5625 GiB; the paper's Figure 1: 9.56 GiB.
  const std::uint64_t selective = L * 34 * s * b * h / t;
  EXPECT_EQ(j["estimate"]["ranks"][0]["activations"]["layers_bytes"].get<std::uint64_t>(), selective);
  EXPECT_LE(std::fabs(static_cast<double>(selective) / (1ULL << 30) - 9.56), 0.01);
  // What selective recompute saves is exactly the attention core, 5as^2b/t per layer: 32,212,254,720 B.
  const std::uint64_t core = L * 5 * a * s * s * b / t;
  // (The what-if rows' `activations` are taken at each row's peak point, which moves from the loss to the backward
  // when the recompute transient grows; the saved tensors themselves are compared in the estimate's derivation.)
  const CliRun none =
      run({"estimate", scenario("interview_recompute.yaml"), "--recompute-granularity", "none", "--format", "json"});
  ASSERT_EQ(none.code, 1) << none.err;  // does not fit
  EXPECT_EQ(none.json()["ranks"][0]["activations"]["layers_bytes"].get<std::uint64_t>() - selective, core);
  EXPECT_EQ(row(j, "recompute_granularity", "none")["fits"], false);
  EXPECT_EQ(row(j, "recompute_granularity", "selective")["fits"], true);
  // Full recompute keeps 2sbh/t per layer (the sequence-parallel layer input).
  const CliRun full =
      run({"estimate", scenario("interview_recompute.yaml"), "--recompute-granularity", "full", "--format", "json"});
  ASSERT_EQ(full.code, 0) << full.err;
  EXPECT_EQ(full.json()["ranks"][0]["activations"]["layers_bytes"].get<std::uint64_t>(), L * 2 * s * b * h / t);
  // The paper's TP-only baseline, no recompute: sbh (10 + 24/t + 5as/(ht)) per layer = 63,619,203,072 B for 48
  // layers, printed as 59.25 GiB in Figure 1.
  const CliRun base = run({"estimate", scenario("interview_recompute.yaml"), "--sequence-parallel=false",
                           "--recompute-granularity", "none", "--format", "json"});
  ASSERT_EQ(base.code, 1) << base.err;  // does not fit on 80 GiB: why recomputation exists
  const std::uint64_t tp_only = L * (s * b * h * (10 + 24 / t) + 5 * a * s * s * b / t);
  EXPECT_EQ(base.json()["ranks"][0]["activations"]["layers_bytes"].get<std::uint64_t>(), tp_only);
  EXPECT_LE(std::fabs(static_cast<double>(tp_only) / (1ULL << 30) - 59.25), 0.005);
}

// bf16 rounding, done by hand: keep the top 16 bits of the fp32 pattern, round to nearest even.
float to_bf16(float x) {
  std::uint32_t u = 0;
  std::memcpy(&u, &x, sizeof u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  u &= 0xFFFF0000u;
  float y = 0;
  std::memcpy(&y, &u, sizeof y);
  return y;
}

// "Why does mixed precision still need fp32 weights?" on Llama-2-7B (6,738,415,616 parameters), one GPU.
TEST(ExplainCli, Fp32MasterWeightsCostAndReason) {
  // The reason the explanation prints: bf16(1.0 + 1e-4) == 1.0 (spacing 2^-7 above 1.0), fp32 keeps it.
  const float w = 1.0f, step = 1e-4f;
  EXPECT_EQ(to_bf16(w + step), 1.0f);
  EXPECT_EQ(to_bf16(1.0f + 0.0078125f), 1.0078125f);  // one bf16 step above 1.0 is 2^-7
  EXPECT_NE(w + step, 1.0f);
  const CliRun t = run({"explain", scenario("interview_fp32_master.yaml")});
  EXPECT_EQ(t.code, 1) << t.err;  // 16Φ does not fit on one A100-80GB
  EXPECT_NE(t.out.find("bf16(1.0 + 1e-4) = 1.0"), std::string::npos);

  const CliRun r = run({"explain", scenario("interview_fp32_master.yaml"), "--format", "json"});
  ASSERT_EQ(r.code, 1) << r.err;
  const auto j = r.json();
  const std::uint64_t phi = 6'738'415'616ULL;  // vocab 32000 = 250 * 128: no padding at tp 1
  // mixed-16: 2 + 2 + 4 (fp32 master) + 8 (fp32 Adam m, v) = 16Φ = 107,814,649,856 B > 80 GiB.
  EXPECT_EQ(j["answer"]["bytes"]["model_states"].get<std::uint64_t>(), 16 * phi);
  EXPECT_EQ(j["answer"]["fits"], false);
  // Pure bf16 (no master, bf16 moments): 2 + 2 + 4 = 8Φ, which fits.
  EXPECT_EQ(states(row(j, "recipe", "bf16")), 8 * phi);
  EXPECT_EQ(row(j, "recipe", "bf16")["fits"], true);
  // dp = 1: ZeRO has nothing to shard, every stage costs the same.
  for (const char* st : {"1", "2", "3"}) EXPECT_EQ(states(row(j, "zero_stage", st)), 16 * phi);
}

// GPT-3 175B the Megatron way (tp 8, pp 16, dp 8, mixed-18, distributed optimizer): stage 0 holds
// 6 * 226,576,896 + 6400 * 12288 + 2048 * 12288 = 1,463,270,400 parameters (docs/model-states.md section 5).
TEST(ExplainCli, Gpt3WhatIfsFollowMegatronsSixPlusTwelveOverDp) {
  const CliRun r = run({"explain", scenario("gpt3_175b_megatron.yaml"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  const std::uint64_t h = 12288;
  const std::uint64_t n = 6 * (12 * h * h / 8 + 7 * h / 8 + 6 * h) + 6400 * h + 2048 * h;
  ASSERT_EQ(n, 1'463'270'400ULL);
  // Without the distributed optimizer: 18n; with it (Megatron theoretical_memory_usage.py): 6n + 12n/dp.
  EXPECT_EQ(states(row(j, "zero_stage", "0")), 18 * n);
  EXPECT_EQ(states(row(j, "zero_stage", "1")), 6 * n + 12 * (n / 8));
  EXPECT_EQ(row(j, "zero_stage", "1")["is_scenario"], true);
  // ZeRO-2/3 with pp = 16 are refused (DeepSpeed does), and the row says so.
  for (const char* st : {"2", "3"}) {
    const auto& w = row(j, "zero_stage", st);
    ASSERT_TRUE(w["skipped"].is_string());
    EXPECT_NE(w["skipped"].get<std::string>().find("pipeline"), std::string::npos);
    EXPECT_TRUE(w["peak_bytes"].is_null());
  }
  EXPECT_EQ(j["answer"]["class"], 0);
  EXPECT_EQ(j["answer"]["ranks"].size(), 64u);
}

// simulate on the library's pipeline scenario: under 1F1B, stage i holds min(pp - i, m) microbatches in flight
// (Narayanan et al. 2021, Sec. 2.2.1), here pp = 16 and m = 1536 / 8 = 192.
TEST(ExplainCli, Gpt3SimulateHoldsPpMinusStageMicrobatches) {
  const CliRun r = run({"simulate", scenario("gpt3_175b_megatron.yaml"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  ASSERT_EQ(j["stages"].size(), 16u);
  for (const auto& st : j["stages"]) {
    const int stage = st["pp_rank"].get<int>();
    EXPECT_EQ(st["max_live_microbatches"].get<int>(), 16 - stage) << "stage " << stage;
  }
}

// simulate on the ZeRO-3 scenario: one microbatch per step (global batch defaults to micro batch x dp).
TEST(ExplainCli, Llama3Zero3SimulateKeepsTheShardedStates) {
  const CliRun r = run({"simulate", scenario("llama3_70b_zero3_64gpu.yaml"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  ASSERT_EQ(j["stages"].size(), 1u);
  const auto& st = j["stages"][0];
  EXPECT_EQ(st["max_live_microbatches"], 1);
  const std::uint64_t s = 70'553'706'496ULL / 64;
  const auto& b = st["bytes_at_peak"];
  // The fp32 master copy and the two Adam moments are never gathered: exactly their shards at any time.
  EXPECT_EQ(b["master_params"].get<std::uint64_t>(), 4 * s);
  EXPECT_EQ(b["optimizer_states"].get<std::uint64_t>(), 8 * s);
}

TEST(ExplainCli, InputErrorsExitTwoNamingTheField) {
  const CliRun none = run({"explain"});
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("scenario = (none)"), std::string::npos) << none.err;
  const CliRun missing = run({"explain", "no/such/file.yaml"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("no/such/file.yaml"), std::string::npos) << missing.err;
  const CliRun bad = run({"explain", scenario("zero_paper_7p5b.yaml"), "--zero-stage", "5"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("zero_stage = 5"), std::string::npos) << bad.err;
  const CliRun flag = run({"explain", scenario("zero_paper_7p5b.yaml"), "--no-such-flag"});
  EXPECT_EQ(flag.code, 2);
  EXPECT_NE(flag.err.find("--no-such-flag"), std::string::npos) << flag.err;
}

TEST(ExplainCli, QuestionKeyIsIgnoredByEstimateAndSimulate) {
  EXPECT_EQ(run({"estimate", scenario("zero_paper_7p5b.yaml")}).code, 0);
  EXPECT_EQ(run({"simulate", scenario("llama3_70b_zero3_64gpu.yaml")}).code, 0);
  EXPECT_EQ(run({"estimate", "--num-parameters", "1e9", "--question", "what?"}).code, 0);
  // Without a question key, explain still answers; the JSON question is null.
  const CliRun r = run({"explain", scenario("llama2_7b_zero3_dp8.yaml"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.json()["question"].is_null());
  const CliRun q = run({"explain", scenario("llama2_7b_zero3_dp8.yaml"), "--question", "Does it fit?"});
  EXPECT_NE(q.out.find("Question\n========\nDoes it fit?\n"), std::string::npos);
}

}  // namespace
}  // namespace trainmem::tools::test
