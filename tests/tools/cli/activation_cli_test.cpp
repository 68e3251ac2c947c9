// Activation memory through the public CLI (`trainmem estimate`): the last stage's logits and loss for
// Llama-3-8B, a Korthikanti Table 2 row end to end, the --explain per-op table, the JSON activations object,
// pipeline schedules and the new flags' errors. Expected values are derived by hand in the comments.
#include <gtest/gtest.h>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

std::uint64_t u64(const nlohmann::json& j) { return j.get<std::uint64_t>(); }

TEST(ActivationCli, Llama3LastStageLogitsAreFourBytesPerVocabEntry) {
  // llama3-8b, s = 8192, b = 1, one rank (first and last stage at once). Vocab 128256 is a multiple of
  // 128, so no padding. The loss keeps the fp32 logits (softmax computed in place) s*b*V*4, a bool target
  // mask (1 byte per token) and the int64 masked targets (8 bytes per token); the final norm and the LM head
  // each keep their bf16 input 2sbh. The bf16 logits 2sbV are a transient (temporaries).
  const CliRun r =
      run({"estimate", "--model", "llama3-8b", "--seq-length", "8192", "--micro-batch-size", "1", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  const std::uint64_t s = 8192, b = 1, h = 4096, v = 128256;
  const auto& last = j["ranks"][0]["activations"]["last_stage_extras"];
  bool found = false;
  for (const auto& t : last["tensors"]) {
    if (t["name"] == "fp32 logits (cross-entropy softmax, in place)") {
      found = true;
      EXPECT_EQ(u64(t["bytes"]), s * b * v * 4);
      EXPECT_EQ(u64(t["bytes"]), 4'202'692'608ULL);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(u64(last["bytes_per_microbatch"]), s * b * v * 4 + s * b * (1 + 8) + 2 * (2 * s * b * h));
  EXPECT_EQ(u64(last["transient_bytes"]), 2 * s * b * v);
  EXPECT_EQ(u64(j["ranks"][0]["bytes"]["temporaries"]), 2 * s * b * v);
  // Per layer (docs/activations.md, Llama-style): 12sbh (norm inputs, QKV/fc1 inputs, Q, O) + 4sb*kv*d (K, V)
  // + 4sba (fp32 logsumexp) + 6sbf (SwiGLU input 4sbf, fc2 input 2sbf), kv = 8, d = 128, a = 32, f = 14336.
  const std::uint64_t per_layer = 12 * s * h + 4 * s * 8 * 128 + 4 * s * 32 + 6 * s * 14336;
  const auto& act = j["ranks"][0]["activations"];
  EXPECT_EQ(u64(act["per_layer_bytes"]), per_layer);
  EXPECT_EQ(u64(act["layers_bytes"]), 32 * per_layer);
  // Llama-style: no dropout, so the first stage keeps only the int64 token ids (8 bytes per token).
  EXPECT_EQ(u64(act["first_stage_extras"]["bytes"]), 8 * s * b);
  EXPECT_EQ(u64(j["ranks"][0]["bytes"]["activations"]), 32 * per_layer + u64(last["bytes"]) + 8 * s * b);
  EXPECT_EQ(j["config"]["hidden_dropout"], 0.0);
  // Runtime memory is modelled by default (docs/runtime-memory.md) and the buffers are in the estimate.
  EXPECT_EQ(j["not_modelled"], nlohmann::json::array());
  EXPECT_EQ(j["ranks"][0]["buffers"]["peak_point"], "loss");
}

TEST(ActivationCli, Gpt3TensorParallelRowOfTable2) {
  // GPT-3 175B, tp 8, eager attention, dropout (GPT-style default 0.1), s = 2048, b = 1:
  // Korthikanti Table 2 "tensor parallel" row sbh(10 + 24/t + 5as/(ht)) per layer.
  const CliRun r = run({"estimate", "--model", "gpt3-175b", "--tp", "8", "--attention", "eager", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::uint64_t s = 2048, h = 12288, a = 96, t = 8;
  EXPECT_EQ(u64(r.json()["ranks"][0]["activations"]["per_layer_bytes"]),
            10 * s * h + 24 * s * h / t + 5 * a * s * s / t);
  // With --sequence-parallel and selective recompute: 34sbh/t.
  const CliRun sp = run({"estimate", "--model", "gpt3-175b", "--tp", "8", "--attention", "eager", "--sequence-parallel",
                         "--recompute-granularity", "selective", "--format", "json"});
  ASSERT_EQ(sp.code, 0) << sp.err;
  EXPECT_EQ(u64(sp.json()["ranks"][0]["activations"]["per_layer_bytes"]), 34 * s * h / t);
  // Without dropout: no masks (2sbh replicated, as^2b/t), and the probs @ V matmul saves the softmax output
  // itself instead of a separate dropout output (2as^2b/t): sbh(8 + 24/t) + 2as^2b/t.
  const CliRun nodrop = run({"estimate", "--model", "gpt3-175b", "--tp", "8", "--attention", "eager",
                             "--attention-dropout", "0", "--hidden-dropout", "0", "--format", "json"});
  ASSERT_EQ(nodrop.code, 0) << nodrop.err;
  EXPECT_EQ(u64(nodrop.json()["ranks"][0]["activations"]["per_layer_bytes"]),
            8 * s * h + 24 * s * h / t + 2 * a * s * s / t);
}

TEST(ActivationCli, PipelineStagesHoldTheirInflightMicrobatches) {
  // llama2-7b, pp 4, 8 microbatches (global batch 8, micro 1, dp 1), 8 layers per stage: 1F1B holds
  // 4, 3, 2, 1 microbatches on stages 0-3; GPipe holds all 8 everywhere.
  const CliRun r =
      run({"estimate", "--model", "llama2-7b", "--pp", "4", "--global-batch-size", "8", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  ASSERT_EQ(j["ranks"].size(), 4u);
  // llama2-7b per layer at s = 4096 (MHA, a = kv = 32, f = 11008): 16sbh + 4sba + 6sbf.
  const std::uint64_t s = 4096, h = 4096, f = 11008;
  const std::uint64_t per_layer = 16 * s * h + 4 * s * 32 + 6 * s * f;
  for (int p = 0; p < 4; ++p) {
    const auto& act = j["ranks"][p]["activations"];
    EXPECT_EQ(act["inflight_chunk_forwards"], 4 - p);
    EXPECT_EQ(u64(act["layers_bytes"]), static_cast<std::uint64_t>(4 - p) * 8 * per_layer);
  }
  const CliRun g = run({"estimate", "--model", "llama2-7b", "--pp", "4", "--global-batch-size", "8",
                        "--pipeline-schedule", "gpipe", "--format", "json"});
  ASSERT_EQ(g.code, 0) << g.err;
  const auto gj = g.json();  // keep the document alive: iterating a temporary's member dangles
  for (const auto& c : gj["ranks"]) EXPECT_EQ(u64(c["activations"]["layers_bytes"]), 8 * 8 * per_layer);
}

TEST(ActivationCli, ExplainShowsThePerOpTable) {
  const CliRun r = run({"estimate", "--model", "llama3-8b", "--seq-length", "8192", "--explain"});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* needle : {"Activations: what one transformer layer saves for backward", "attention core (flash)",
                             "softmax logsumexp", "fc1 output [gate, up]", "RoPE", "no recompute", "selective",
                             "full (layer input checkpoint)", "fp32 logits", "in flight at the peak"})
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle;
  // The table footer no longer lists activations as not modelled.
  EXPECT_EQ(r.out.find("Not yet modelled: activations"), std::string::npos);
  // The buffers are in the estimate, with their formulas and the peak point.
  EXPECT_EQ(r.out.find("Not in estimate: buffers"), std::string::npos);
  EXPECT_NE(r.out.find("Buffers (held by the runtime"), std::string::npos);
  EXPECT_NE(r.out.find("activation gradients of one layer"), std::string::npos);
  EXPECT_NE(r.out.find("Peak point (sim/accounting/stage_peak.hpp)"), std::string::npos);
}

TEST(ActivationCli, FusedLinearCrossEntropyDropsTheLogits) {
  // llama3-8b, s = 8192: fused linear cross entropy keeps the input gradient 2sh and the LM-head weight
  // gradient 2Vh instead of the LM head input, fp32 logits and targets; its transient is one chunk of 256
  // tokens' bf16 logits (see activation_memory_test).
  const CliRun r = run(
      {"estimate", "--model", "llama3-8b", "--seq-length", "8192", "--fused-linear-cross-entropy", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::uint64_t s = 8192, h = 4096, v = 128256;
  const auto j = r.json();
  const auto& last = j["ranks"][0]["activations"]["last_stage_extras"];
  EXPECT_EQ(u64(last["bytes_per_microbatch"]), 2 * s * h + 2 * s * h + 2 * v * h);
  EXPECT_EQ(u64(last["transient_bytes"]), 2 * 256 * v);
}

TEST(ActivationCli, BadActivationSettingsExitTwoNamingTheField) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"estimate", "--model", "llama2-7b", "--pp", "4", "--recompute-granularity", "full", "--recompute-num-layers",
        "9"},
       "recompute_num_layers = 9"},
      {{"estimate", "--model", "llama2-7b", "--cp", "3"}, "seq_length = 4096"},
      {{"estimate", "--model", "llama2-7b", "--cp", "2", "--attention", "eager"}, "attention = eager"},
      {{"estimate", "--model", "llama2-7b", "--hidden-dropout", "1.5"}, "hidden_dropout = 1.5"},
      {{"estimate", "--model", "llama2-7b", "--attention-dropout", "lots"}, "attention_dropout = lots"},
      {{"estimate", "--model", "llama2-7b", "--pipeline-schedule", "zb"}, "pipeline_schedule = zb"},
      {{"estimate", "--model", "llama2-7b", "--pp", "2", "--vpp", "2", "--global-batch-size", "4",
        "--pipeline-schedule", "gpipe"},
       "pipeline_schedule = gpipe"},
      {{"estimate", "--model", "mixtral-8x7b", "--moe-expert-capacity-factor", "0"}, "moe_expert_capacity_factor = 0"},
  };
  for (const auto& [args, expect] : cases) {
    const CliRun r = run(args);
    EXPECT_EQ(r.code, 2) << expect << "\n" << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << "expected: " << expect << "\ngot: " << r.err;
  }
}

TEST(ActivationCli, BareParameterCountKeepsActivationsAtZero) {
  // --num-parameters has no layers: no op table applies, activations and temporaries stay 0 and the JSON
  // says they are not modelled for this input.
  const CliRun r = run({"estimate", "--num-parameters", "7.5e9", "--runtime", "off", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(u64(j["ranks"][0]["bytes"]["activations"]), 0u);
  EXPECT_EQ(u64(j["ranks"][0]["bytes"]["temporaries"]), 0u);
  EXPECT_TRUE(j["ranks"][0]["activations"].is_null());
  EXPECT_EQ(j["not_modelled"][0], "activations");
  // 16 bytes per parameter (mixed-16 + Adam), nothing else (runtime switched off above).
  EXPECT_EQ(u64(j["max_peak_bytes"]), 16 * 7'500'000'000ULL);
}

TEST(ActivationCli, UlyssesHalvesEveryActivation) {
  // llama2-7b, dp 2 with ulysses_sp 2: each rank holds s/2 tokens outside attention and a/2 heads inside,
  // so every saved tensor, the loss extras included, is exactly half of the ulysses_sp 1 value.
  const auto one = run({"estimate", "--model", "llama2-7b", "--dp", "2", "--format", "json"}).json();
  const auto two =
      run({"estimate", "--model", "llama2-7b", "--dp", "2", "--ulysses-sp", "2", "--format", "json"}).json();
  EXPECT_EQ(2 * u64(two["ranks"][0]["bytes"]["activations"]), u64(one["ranks"][0]["bytes"]["activations"]));
  EXPECT_EQ(2 * u64(two["ranks"][0]["activations"]["per_layer_bytes"]),
            u64(one["ranks"][0]["activations"]["per_layer_bytes"]));
}

TEST(ActivationCli, AbsurdSizesOverflowInsteadOfWrapping) {
  // GPT-3 175B eager with 2^30 sequences per microbatch: one layer's scores alone are
  // 2 * 96 * 2048^2 * 2^30 = 2^59.6 bytes, 96 layers exceed 2^64: an overflow error (exit 2), never a
  // wrapped small number. Llama-3-8B at the largest seq_length and micro batch overflows the element count.
  for (const auto& args : {std::vector<std::string>{"estimate", "--model", "gpt3-175b", "--micro-batch-size",
                                                    "1073741824", "--attention", "eager"},
                           std::vector<std::string>{"estimate", "--model", "llama3-8b", "--seq-length", "33554432",
                                                    "--micro-batch-size", "1073741824"}}) {
    const CliRun r = run(args);
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.err.find("arithmetic overflow"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace trainmem::tools::test
