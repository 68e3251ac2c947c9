// `trainmem estimate --inference` and LoRA/QLoRA through the public CLI: JSON fields, table, errors naming the
// field, and the acceptance figures (OPT-13B 819,200 B per token; QLoRA 7B on a 24 GB GPU) derived by hand.
#include <gtest/gtest.h>

#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

std::uint64_t u(const nlohmann::json& j) { return j.get<std::uint64_t>(); }

std::uint64_t category_sum(const nlohmann::json& b) {
  return u(b["params"]) + u(b["grads"]) + u(b["master_params"]) + u(b["optimizer_states"]) + u(b["activations"]) +
         u(b["buffers"]) + u(b["temporaries"]) + u(b["runtime"]) + u(b["kv_cache"]);
}

TEST(InferenceCli, Opt13bKvCacheJson) {
  // vLLM paper Sec. 2: 2 x 5120 x 40 x 2 B = 819,200 B per token (fp16).
  const CliRun r = run({"estimate", "--model", "opt-13b", "--inference", "--weight-dtype", "fp16", "--seq-length", "1",
                        "--kv-block-size", "0", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(j["config"]["inference"], true);
  EXPECT_EQ(j["config"]["kv_cache_dtype"], "fp16");
  const auto& c = j["ranks"][0];
  EXPECT_EQ(u(c["bytes"]["kv_cache"]), 819'200u);
  EXPECT_EQ(u(c["inference"]["kv_cache"]["bytes_per_token"]), 819'200u);
  EXPECT_EQ(u(c["bytes"]["grads"]), 0u);
  EXPECT_EQ(u(c["bytes"]["peak"]), category_sum(c["bytes"]));
  EXPECT_TRUE(j["inference_capacity"].is_null());  // no GPU given
}

TEST(InferenceCli, TrainingJsonHasZeroKvCache) {
  const CliRun r = run({"estimate", "--model", "llama2-7b", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(u(j["ranks"][0]["bytes"]["kv_cache"]), 0u);
  EXPECT_EQ(j["config"]["inference"], false);
  EXPECT_TRUE(j["config"]["lora"].is_null());
}

TEST(InferenceCli, TableShowsTheLargestBatchThatFits) {
  // Llama-2-7B bf16 at 4096 tokens on 80 GiB: 29 sequences (hand derivation in inference_memory_test.cpp, which
  // counts weights, KV cache and workspace only, hence --runtime off).
  const CliRun r =
      run({"estimate", "--model", "llama2-7b", "--inference", "--gpu-memory", "80GiB", "--runtime", "off"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("kv_cache"), std::string::npos);
  EXPECT_NE(r.out.find("up to 29 concurrent sequences fit"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("up to seq_length 119,360"), std::string::npos) << r.out;
  const CliRun e = run({"estimate", "--model", "llama2-7b", "--inference", "--explain"});
  EXPECT_NE(e.out.find("Derivation (inference)"), std::string::npos);
  // 30 sequences do not fit: exit 1.
  EXPECT_EQ(
      run({"estimate", "--model", "llama2-7b", "--inference", "--gpu-memory", "80GiB", "--micro-batch-size", "30"})
          .code,
      1);
}

TEST(InferenceCli, TrainingOnlyAndMisplacedKeysAreErrors) {
  auto expect_error = [](std::vector<std::string> args, const std::string& field) {
    const CliRun r = run(std::move(args));
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_NE(r.err.find(field), std::string::npos) << r.err;
  };
  expect_error({"estimate", "--model", "llama2-7b", "--inference", "--zero-stage", "3"}, "zero_stage");
  expect_error({"estimate", "--model", "llama2-7b", "--inference", "--recipe", "megatron"}, "recipe");
  expect_error({"estimate", "--model", "llama2-7b", "--max-new-tokens", "5"}, "max_new_tokens");
  expect_error({"estimate", "--model", "llama2-7b", "--base-weight-dtype", "nf4"}, "base_weight_dtype");
  expect_error({"estimate", "--model", "llama2-7b", "--lora-rank", "8", "--lora-target-modules", "c_attn"},
               "lora_target_modules");
  expect_error({"estimate", "--model", "llama2-7b", "--inference", "--weight-dtype", "int3"}, "weight_dtype");
  expect_error({"estimate", "--model", "llama2-7b", "--inference", "--tp", "3"}, "tensor_model_parallel_size");
  expect_error({"simulate", "--model", "llama2-7b", "--inference"}, "inference");
  expect_error({"simulate", "--model", "llama2-7b", "--lora-rank", "8"}, "lora_rank");
}

TEST(InferenceCli, Qlora7bOnA24GbGpu) {
  // Figures derived in lora_memory_test.cpp (Qlora7bFitsOn24GbGpuWithDerivation): peak 7,526,467,584 B.
  const CliRun r = run({"estimate",
                        "--model",
                        "llama2-7b",
                        "--lora-rank",
                        "64",
                        "--lora-target-modules",
                        "all-linear",
                        "--base-weight-dtype",
                        "nf4",
                        "--double-quantization",
                        "--recompute-granularity",
                        "full",
                        "--recompute-num-layers",
                        "1",
                        "--seq-length",
                        "2048",
                        "--gpu",
                        "rtx-4090",
                        "--format",
                        "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(j["fits"], true);
  EXPECT_EQ(u(j["config"]["lora"]["adapter_parameters"]), 159'907'840u);
  EXPECT_EQ(j["config"]["lora"]["base_weight_dtype"], "nf4");
  // lora_memory_test.cpp derives the allocated 7,387,793,408 B; the device total adds the runtime model.
  EXPECT_EQ(u(j["max_peak_bytes"]) - u(j["ranks"][0]["bytes"]["runtime"]), 7'387'793'408u);
  EXPECT_EQ(u(j["ranks"][0]["bytes"]["kv_cache"]), 0u);
  // --explain shows the per-layer adapter derivation: 4 * 64 * 8192 + 2 * 64 * 15104 + 64 * 15104 = 4,997,120.
  const CliRun e = run(
      {"estimate", "--model", "llama2-7b", "--lora-rank", "64", "--lora-target-modules", "all-linear", "--explain"});
  EXPECT_NE(e.out.find("adapters per layer 4,997,120 x 32 layers = 159,907,840"), std::string::npos) << e.out;
  const CliRun t = run({"estimate", "--model", "llama2-7b", "--lora-rank", "64", "--base-weight-dtype", "nf4"});
  EXPECT_NE(t.out.find("# lora       r 64 on q_proj,v_proj"), std::string::npos) << t.out;
}

}  // namespace
}  // namespace trainmem::tools::test
