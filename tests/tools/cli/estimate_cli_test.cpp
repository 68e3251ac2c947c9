// `trainmem estimate` through the public CLI: per-stage model states of GPT-3 175B derived by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

// params + grads + master_params + optimizer_states of a rank class's `bytes`.
std::uint64_t model_states(const nlohmann::json& rank_class) {
  const auto& b = rank_class["bytes"];
  return b["params"].get<std::uint64_t>() + b["grads"].get<std::uint64_t>() + b["master_params"].get<std::uint64_t>() +
         b["optimizer_states"].get<std::uint64_t>();
}

// Every category of `bytes` (what `peak` must equal).
std::uint64_t category_sum(const nlohmann::json& rank_class) {
  const auto& b = rank_class["bytes"];
  return model_states(rank_class) + b["activations"].get<std::uint64_t>() + b["buffers"].get<std::uint64_t>() +
         b["temporaries"].get<std::uint64_t>() + b["runtime"].get<std::uint64_t>();
}

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
  EXPECT_EQ(model_states(ranks[0]), 18 * first);
  EXPECT_EQ(ranks[1]["pp_rank"], 1);
  EXPECT_EQ(ranks[1]["pp_ranks"].size(), 14u);
  EXPECT_EQ(model_states(ranks[1]), 18 * middle);
  EXPECT_EQ(ranks[2]["pp_rank"], 15);
  EXPECT_EQ(model_states(ranks[2]), 18 * last);
  // Breakdown: bf16 params 2, fp32 main_grad 4, fp32 master 4, Adam 8.
  EXPECT_EQ(ranks[0]["bytes"]["params"].get<std::uint64_t>(), 2 * first);
  EXPECT_EQ(ranks[0]["bytes"]["grads"].get<std::uint64_t>(), 4 * first);
  EXPECT_EQ(ranks[0]["bytes"]["master_params"].get<std::uint64_t>(), 4 * first);
  EXPECT_EQ(ranks[0]["bytes"]["optimizer_states"].get<std::uint64_t>(), 8 * first);
  EXPECT_EQ(ranks[0]["ranks"].size(), 64u);  // tp 8 x dp 8 ranks per stage
  EXPECT_TRUE(j["fits"].is_null());

  // Activations (docs/activations.md): s = 2048, b = 1, flash attention (the default), GPT-style dropout 0.1,
  // tp 8 without SP, one microbatch (global batch defaults to micro_batch * dp), so each stage holds one.
  // Per layer: replicated 2sbh (input norm) + 2sbh (QKV input) + sbh (attention dropout mask) + 2sbh (post norm)
  // + 2sbh (fc1 input) + sbh (MLP dropout mask) = 10sbh; split by tp: Q, K, V, O 2sbh each + GeLU input 8sbh
  // + fc2 input 8sbh = 24sbh/t; fp32 logsumexp 4*s*a/t.
  const std::uint64_t s = 2048, a = 96, sbh = s * h;
  const std::uint64_t per_layer = 10 * sbh + 24 * sbh / tp + 4 * s * a / tp;
  ASSERT_EQ(per_layer, 327'254'016ULL);
  EXPECT_EQ(ranks[1]["bytes"]["activations"].get<std::uint64_t>(), 6 * per_layer);
  // The first and middle stages peak in the first backward of their last layer (sim/accounting/stage_peak.hpp):
  // every saved tensor + that layer's activation gradients, 2 B x (s*h + s*4h/tp) without SP = 2 x (2048*12288 +
  // 2048*6144) = 75,497,472 B (more than the p2p send buffer 2*s*h = 50,331,648 B between two ops).
  const std::uint64_t act_grads = 2 * (s * h + s * 4 * h / tp);
  ASSERT_EQ(act_grads, 75'497'472ULL);
  EXPECT_EQ(ranks[1]["bytes"]["temporaries"].get<std::uint64_t>(), act_grads);
  EXPECT_EQ(ranks[1]["bytes"]["buffers"].get<std::uint64_t>(), 0u);  // mixed-18: Megatron's buckets are views
  // First stage: + the embedding dropout mask sbh (1 byte, not split without SP) + int64 token ids 8s.
  EXPECT_EQ(ranks[0]["bytes"]["activations"].get<std::uint64_t>(), 6 * per_layer + sbh + 8 * s);
  // Last stage: + final norm input 2sbh + LM head input 2sbh + fp32 logits 4 * s * V/tp (V padded 51200)
  // + cross-entropy target mask (1 byte per token) + masked targets (int64 per token); the bf16 logits
  // 2 * s * V/tp are a transient (temporaries): the loss point, above the backward and p2p points (which drop
  // the microbatch's logits).
  const std::uint64_t v_shard = 51200 / tp;
  EXPECT_EQ(ranks[2]["bytes"]["activations"].get<std::uint64_t>(),
            6 * per_layer + 4 * sbh + 4 * s * v_shard + s + 8 * s);
  EXPECT_EQ(ranks[2]["bytes"]["temporaries"].get<std::uint64_t>(), 2 * s * v_shard);
  // The peak is the sum of the categories; the largest is the last stage here (its logits outweigh the
  // embedding shard's extra position table): compare with stage 0 explicitly.
  for (const auto& c : ranks) EXPECT_EQ(c["bytes"]["peak"].get<std::uint64_t>(), category_sum(c));
  // Runtime (docs/runtime-memory.md, defaults on): CUDA context 512 MiB; NCCL rings for tp 8 and dp 8 of
  // 16 channels x 2 connections x NCCL_BUFFSIZE 4 MiB = 128 MiB each, the pp 16 p2p group 2 channels x
  // 2 peers x 2 connections x 4 MiB = 32 MiB; cuBLAS workspace 32 MiB; allocator rounding: each of the five
  // mixed-18 flat buffers (bf16 params 2, fp32 main_grad 4, master 4, Adam m 4, v 4 bytes per parameter) up
  // to a multiple of 2 MiB; fragmentation reserve 5% (floor) of activations + buffers + temporaries.
  auto runtime = [](std::uint64_t params, std::uint64_t dynamic) {
    const std::uint64_t mib = 1ULL << 20, segment = 2 * mib;
    std::uint64_t bytes = 512 * mib + 2 * 128 * mib + 32 * mib + 32 * mib;
    for (std::uint64_t per_param : {2, 4, 4, 4, 4}) {
      const std::uint64_t buffer = per_param * params;
      bytes += buffer % segment == 0 ? 0 : segment - buffer % segment;
    }
    return bytes + dynamic / 20;
  };
  const std::uint64_t dynamic0 = 6 * per_layer + sbh + 8 * s + act_grads;
  const std::uint64_t dynamic2 = 6 * per_layer + 4 * sbh + 4 * s * v_shard + 9 * s + 2 * s * v_shard;
  EXPECT_EQ(ranks[0]["bytes"]["runtime"].get<std::uint64_t>(), runtime(first, dynamic0));
  EXPECT_EQ(ranks[2]["bytes"]["runtime"].get<std::uint64_t>(), runtime(last, dynamic2));
  const std::uint64_t peak0 = 18 * first + dynamic0 + runtime(first, dynamic0);
  const std::uint64_t peak2 = 18 * last + dynamic2 + runtime(last, dynamic2);
  EXPECT_EQ(j["max_peak_bytes"].get<std::uint64_t>(), std::max(peak0, peak2));
  // Reserved range (docs/runtime-memory.md, "Reserved vs allocated"): reserved_high replaces the 5% reserve
  // by one copy of the dynamic bytes rounded up to 2 MiB plus a 20 MiB and a 2 MiB segment tail.
  const std::uint64_t seg = 2ULL << 20;
  for (auto [k, dynamic] : {std::pair{0, dynamic0}, std::pair{2, dynamic2}}) {
    const auto& c = ranks[k];
    const std::uint64_t high = (dynamic + seg - 1) / seg * seg + (22ULL << 20);
    EXPECT_EQ(c["runtime_detail"]["fragmentation_high"].get<std::uint64_t>(), high);
    EXPECT_EQ(c["reserved_high"].get<std::uint64_t>(), c["reserved"].get<std::uint64_t>() - dynamic / 20 + high);
  }
}

TEST(EstimateCli, DistributedOptimizerShardsTwelveBytesOverDp) {
  // Megatron distributed optimizer: 6 + 12/dp bytes per parameter. llama2-7b, tp 1, dp 8 -> untied,
  // vocab 32000 padded to 32000 (multiple of 128); total held = 6,738,415,616 (no padding needed).
  const CliRun r = run({"estimate", "--model", "llama2-7b", "--dp", "8", "--recipe", "megatron",
                        "--use-distributed-optimizer", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::uint64_t n = 6'738'415'616ULL;
  EXPECT_EQ(r.json()["config"]["zero_stage"], 1);
  EXPECT_EQ(model_states(r.json()["ranks"][0]), 6 * n + 12 * (n / 8));
}

TEST(EstimateCli, FitsVerdictAndExitCode) {
  // llama2-7b on one GPU: 16 bytes * 6.74e9 = 107.8e9 bytes > 80 GiB -> exit 1; on 8 GPUs ZeRO-3 fits.
  const CliRun big = run({"estimate", "--model", "llama2-7b", "--gpu", "a100-80gb", "--format", "json"});
  EXPECT_EQ(big.code, 1);
  EXPECT_EQ(big.json()["fits"], false);
  EXPECT_EQ(big.json()["gpu_memory_bytes"].get<std::uint64_t>(), 81920ULL * 1024 * 1024);
  const CliRun ok =
      run({"estimate", "--model", "llama2-7b", "--dp", "8", "--zero-stage", "3", "--gpu-memory", "80GiB"});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("FITS"), std::string::npos);
}

TEST(EstimateCli, ShapeFlagsOverridePreset) {
  // gpt3-175b with 48 layers: exactly half the transformer-layer parameters.
  const auto full = run({"estimate", "--model", "gpt3-175b", "--format", "json"}).json();
  const auto half = run({"estimate", "--model", "gpt3-175b", "--num-layers", "48", "--format", "json"}).json();
  const std::uint64_t h = 12288;
  EXPECT_EQ(
      full["config"]["num_parameters"].get<std::uint64_t>() - half["config"]["num_parameters"].get<std::uint64_t>(),
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
  const CliRun r =
      run({"estimate", "--model", "mixtral-8x7b", "--ep", "8", "--dp", "8", "--zero-stage", "1", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  const auto& c = j["ranks"][0];
  const std::uint64_t h = 4096, f = 14336;
  const std::uint64_t expert = 32 * 3 * h * f;  // one expert per rank per layer
  EXPECT_EQ(c["expert_parameters"].get<std::uint64_t>(), expert);
  const std::uint64_t dense = c["dense_parameters"].get<std::uint64_t>();
  // Dense: 4 bytes unsharded + 12 bytes / 8; expert: 16 bytes (edp 1).
  EXPECT_EQ(model_states(c), 4 * dense + 12 * ((dense + 7) / 8) + 16 * expert);
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

TEST(EstimateCli, ModelHeaderNamesTheArchitectureVariants) {
  // Qwen2 has q/k/v biases (not "no biases"); Qwen3 q/k norm; Gemma 2 sandwich norms; DeepSeek-V3 MLA with its
  // sizes, the shared expert, the router bias and its 3 dense layers (config.json values).
  auto header = [](const char* model) {
    const CliRun r = run({"estimate", "--model", model});
    EXPECT_EQ(r.code, 0) << r.err;
    return r.out.substr(0, r.out.find("# layout"));
  };
  EXPECT_NE(header("qwen2-0.5b").find("tied embeddings, q/k/v biases only\n"), std::string::npos);
  EXPECT_NE(header("qwen3-8b").find("no biases, q/k norm\n"), std::string::npos);
  EXPECT_NE(header("gemma2-9b").find("no biases, sandwich norms\n"), std::string::npos);
  const std::string v3 = header("deepseek-v3");
  EXPECT_NE(v3.find("128 heads, MLA (q_lora 1536, kv_lora 512, qk 128+64 rope, v 128)"), std::string::npos) << v3;
  EXPECT_NE(v3.find("256 experts (top-8, expert ffn 2048, shared expert ffn 2048, router bias), first 3 layers dense"),
            std::string::npos)
      << v3;
  EXPECT_NE(header("deepseek-v2-lite").find("MLA (no q LoRA, kv_lora 512"), std::string::npos);
}

TEST(EstimateCli, ModelsTableNameColumnFitsTheLongestName) {
  // Each row starts with the right-aligned name and at least one blank before the parameter count (the 17
  // characters of qwen1.5-moe-a2.7b ran into its count in a 14-wide column); the header's "name" ends where
  // the names end.
  const CliRun r = run({"models"});
  ASSERT_EQ(r.code, 0);
  std::istringstream lines(r.out);
  std::string line;
  std::size_t name_end = 0;
  int rows = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("#", 0) == 0 && line.find("name") != std::string::npos && name_end == 0)
      name_end = line.find("name") + 4;
    if (line.find("qwen1.5-moe-a2.7b") == std::string::npos && line.find("deepseek-v2-lite") == std::string::npos)
      continue;
    ++rows;
    const std::size_t end = line.find(' ', line.find_first_not_of(' '));
    EXPECT_EQ(end, name_end) << line;
  }
  EXPECT_EQ(rows, 2);
}

}  // namespace
}  // namespace trainmem::tools::test
