// `trainmem estimate` through the public CLI: per-stage model states of GPT-3 175B derived by hand.
#include <gtest/gtest.h>

#include "cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

TEST(EstimateCli, Gpt3PerStageModelStatesMatchHandDerivation) {
  const CliRun r = run({"estimate", "--model", "gpt3-175b", "--tp", "8", "--pp", "16", "--dp", "8", "--recipe",
                        "megatron", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["world_size"], 1024);
  // GPT-3 175B: h = 12288, 96 layers -> 6 per stage, 96 heads, ffn 4h, vocab 50257, 2048 learned positions,
  // tied embeddings, biases, LayerNorm.
  const std::uint64_t h = 12288, tp = 8;
  // One layer on one TP rank: column-parallel QKV (3h^2 + 3h) and fc1 (4h^2 + 4h) split by 8; row-parallel
  // out-proj and fc2 weights (h^2 and 4h^2) split by 8 with their biases (h each) replicated; two LayerNorms
  // (2h each) replicated. = 12h^2/8 + 7h/8 + 2h + 4h = 226,576,896.
  const std::uint64_t layer = 12 * h * h / tp + 7 * h / tp + 2 * h + 4 * h;
  ASSERT_EQ(layer, 226'576'896ULL);
  // Vocabulary padded to a multiple of 128 * 8 = 1024: 50257 -> 51200, 6400 rows per TP rank.
  const std::uint64_t vocab_shard = 51200 / tp * h;
  // Stage 0: 6 layers + word-embedding shard + replicated position table 2048 * h.
  const std::uint64_t first = 6 * layer + vocab_shard + 2048 * h;
  // Middle stages: 6 layers.
  const std::uint64_t middle = 6 * layer;
  // Stage 15: 6 layers + final LayerNorm (2h) + the tied output layer's copy of the embedding shard.
  const std::uint64_t last = 6 * layer + 2 * h + vocab_shard;
  // mixed-18 (megatron) without the distributed optimizer: 18 bytes per parameter, nothing sharded.
  const auto& ranks = j["ranks"];
  ASSERT_EQ(ranks.size(), 3u);
  EXPECT_EQ(ranks[0]["pp_rank"], 0);
  EXPECT_EQ(ranks[0]["bytes"]["peak"].get<std::uint64_t>(), 18 * first);
  EXPECT_EQ(ranks[1]["pp_rank"], 1);
  EXPECT_EQ(ranks[1]["pp_ranks"].size(), 14u);
  EXPECT_EQ(ranks[1]["bytes"]["peak"].get<std::uint64_t>(), 18 * middle);
  EXPECT_EQ(ranks[2]["pp_rank"], 15);
  EXPECT_EQ(ranks[2]["bytes"]["peak"].get<std::uint64_t>(), 18 * last);
  // Breakdown: bf16 params 2, fp32 main_grad 4, fp32 master 4, Adam 8.
  EXPECT_EQ(ranks[0]["bytes"]["params"].get<std::uint64_t>(), 2 * first);
  EXPECT_EQ(ranks[0]["bytes"]["grads"].get<std::uint64_t>(), 4 * first);
  EXPECT_EQ(ranks[0]["bytes"]["master_params"].get<std::uint64_t>(), 4 * first);
  EXPECT_EQ(ranks[0]["bytes"]["optimizer_states"].get<std::uint64_t>(), 8 * first);
  EXPECT_EQ(j["max_peak_bytes"].get<std::uint64_t>(), 18 * first);
  EXPECT_EQ(ranks[0]["ranks"].size(), 64u);  // tp 8 x dp 8 ranks per stage
  EXPECT_TRUE(j["fits"].is_null());
}

TEST(EstimateCli, DistributedOptimizerShardsTwelveBytesOverDp) {
  // Megatron distributed optimizer: 6 + 12/dp bytes per parameter. llama2-7b, tp 1, dp 8 -> untied,
  // vocab 32000 padded to 32000 (multiple of 128); total held = 6,738,415,616 (no padding needed).
  const CliRun r = run({"estimate", "--model", "llama2-7b", "--dp", "8", "--recipe", "megatron",
                        "--use-distributed-optimizer", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::uint64_t n = 6'738'415'616ULL;
  EXPECT_EQ(r.json()["config"]["zero_stage"], 1);
  EXPECT_EQ(r.json()["max_peak_bytes"].get<std::uint64_t>(), 6 * n + 12 * (n / 8));
}

TEST(EstimateCli, FitsVerdictAndExitCode) {
  // llama2-7b on one GPU: 16 bytes * 6.74e9 = 107.8e9 bytes > 80 GiB -> exit 1; on 8 GPUs ZeRO-3 fits.
  const CliRun big = run({"estimate", "--model", "llama2-7b", "--gpu", "a100-80gb", "--format", "json"});
  EXPECT_EQ(big.code, 1);
  EXPECT_EQ(big.json()["fits"], false);
  EXPECT_EQ(big.json()["gpu_memory_bytes"].get<std::uint64_t>(), 81920ULL * 1024 * 1024);
  const CliRun ok = run({"estimate", "--model", "llama2-7b", "--dp", "8", "--zero-stage", "3", "--gpu-memory", "80GiB"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("FITS"), std::string::npos);
}

TEST(EstimateCli, ShapeFlagsOverridePreset) {
  // gpt3-175b with 48 layers: exactly half the transformer-layer parameters.
  const auto full = run({"estimate", "--model", "gpt3-175b", "--format", "json"}).json();
  const auto half = run({"estimate", "--model", "gpt3-175b", "--num-layers", "48", "--format", "json"}).json();
  const std::uint64_t h = 12288;
  EXPECT_EQ(full["config"]["num_parameters"].get<std::uint64_t>() - half["config"]["num_parameters"].get<std::uint64_t>(),
            48 * (12 * h * h + 13 * h));
}

TEST(EstimateCli, ScenarioFileAndFlagOverride) {
  const std::string path = std::string(TRAINMEM_SOURCE_DIR) + "/scenarios/llama2_7b_zero3_dp8.yaml";
  const CliRun file = run({"estimate", path, "--format", "json"});
  ASSERT_EQ(file.code, 0) << file.err;
  EXPECT_EQ(file.json()["config"]["zero_stage"], 3);
  const CliRun over = run({"estimate", path, "--zero-stage", "0", "--format", "json"});
  EXPECT_EQ(over.json()["config"]["zero_stage"], 0);
}

TEST(EstimateCli, ExplainShowsTermsAndRecipe) {
  const CliRun r = run({"estimate", "--model", "llama3-8b", "--recipe", "deepspeed", "--explain"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Why 16, 18 or 20 bytes per parameter"), std::string::npos);
  EXPECT_NE(r.out.find("h*(heads+2*kv_heads)*head_dim/tp = 4096*(32+2*8)*128/1"), std::string::npos);
  EXPECT_NE(r.out.find("fp32 gradient copy"), std::string::npos);
  EXPECT_NE(r.out.find("= 20 bytes per parameter"), std::string::npos);
}

TEST(EstimateCli, MoeExpertsShardOverExpertDataParallel) {
  // mixtral-8x7b, ep 8, dp 8, ZeRO-1 mixed-16: edp = 8/8 = 1, so expert states are not sharded further.
  const CliRun r = run({"estimate", "--model", "mixtral-8x7b", "--ep", "8", "--dp", "8", "--zero-stage", "1",
                        "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  const auto& c = j["ranks"][0];
  const std::uint64_t h = 4096, f = 14336;
  const std::uint64_t expert = 32 * 3 * h * f;  // one expert per rank per layer
  EXPECT_EQ(c["expert_parameters"].get<std::uint64_t>(), expert);
  const std::uint64_t dense = c["dense_parameters"].get<std::uint64_t>();
  // Dense: 4 bytes unsharded + 12 bytes / 8; expert: 16 bytes (edp 1).
  EXPECT_EQ(c["bytes"]["peak"].get<std::uint64_t>(), 4 * dense + 12 * ((dense + 7) / 8) + 16 * expert);
}

TEST(EstimateCli, ModelsListsPresets) {
  const CliRun r = run({"models", "--format", "json"});
  ASSERT_EQ(r.code, 0);
  bool found = false;
  const auto j = r.json();
  for (const auto& m : j["models"])
    if (m["name"] == "llama3-8b") found = m["num_parameters"].get<std::uint64_t>() == 8'030'261'248ULL;
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace trainmem::tools::test
