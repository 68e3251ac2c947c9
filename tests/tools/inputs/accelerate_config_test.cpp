// accelerate config YAML files (--accelerate-config): distributed_type, mixed_precision, the world size, and the
// deepspeed_config / fsdp_config sections, alone and with a TrainingArguments file. Expected values come from
// accelerate's commands/config/config_args.py and utils/dataclasses.py (DeepSpeedPlugin, FSDP plugin) and hand
// derivations in the comments, never from trainmem's own output. Fixtures (written as `accelerate config` writes
// them): tests/tools/inputs/trainer_configs/accelerate_*.yaml.
#include "tools/inputs/accelerate_config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "partition/error.hpp"
#include "tests/tools/cli_test_util.hpp"

namespace trainmem::tools::test {
namespace {

std::string fixture(const std::string& name) {
  return std::string(TRAINMEM_SOURCE_DIR) + "/tests/tools/inputs/trainer_configs/" + name;
}
std::string text(const TrainerInputs& in, const char* key) {
  const auto it = in.settings.find(key);
  return it == in.settings.end() ? "(unset)" : it->second.text;
}
bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}
std::uint64_t bytes(const nlohmann::json& j, const char* category) {
  return j["ranks"][0]["bytes"][category].get<std::uint64_t>();
}
std::string write(const std::string& name, const std::string& content) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

// ZeRO-3 over 8 processes in bf16 (DeepSpeedPlugin: bf16.enabled, the ZeRO optimizer = mixed-20) with a 7e9
// parameter model and 4 sequences per device: shard = 7e9 / 8 = 875,000,000.
//   params           bf16, sharded        2 * shard = 1,750,000,000
//   grads            bf16 2 + fp32 partition 4, sharded  6 * shard = 5,250,000,000
//   master_params    fp32                 4 * shard = 3,500,000,000
//   optimizer_states Adam m, v fp32       8 * shard = 7,000,000,000
// global batch = 4 * gradient_accumulation_steps 1 * 8 = 32.
TEST(AccelerateConfigCli, DeepSpeedZero3OverEight) {
  const std::uint64_t shard = 875'000'000ULL;
  const CliRun r =
      run({"estimate", "--num-parameters", "7e9", "--accelerate-config", fixture("accelerate_deepspeed_zero3.yaml"),
           "--per-device-train-batch-size", "4", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(bytes(j, "params"), 2 * shard);
  EXPECT_EQ(bytes(j, "grads"), 6 * shard);
  EXPECT_EQ(bytes(j, "master_params"), 4 * shard);
  EXPECT_EQ(bytes(j, "optimizer_states"), 8 * shard);
  EXPECT_EQ(j["config"]["world_size"], 8);
  EXPECT_EQ(j["config"]["dp"], 8);
  EXPECT_EQ(j["config"]["zero_stage"], 3);
  EXPECT_EQ(j["config"]["recipe"], "mixed-20");
  EXPECT_EQ(j["config"]["global_batch_size"], 32);
  EXPECT_NE(r.err.find("notice: accelerate_deepspeed_zero3.yaml: "), std::string::npos) << r.err;
  // The micro batch comes from the data loader: without it accelerate's "auto" is an error naming the field.
  const CliRun no =
      run({"estimate", "--num-parameters", "7e9", "--accelerate-config", fixture("accelerate_deepspeed_zero3.yaml")});
  EXPECT_EQ(no.code, 2);
  EXPECT_NE(no.err.find("train_micro_batch_size_per_gpu (in accelerate_deepspeed_zero3.yaml deepspeed_config) = "
                        "\"auto\""),
            std::string::npos)
      << no.err;
  // With a TrainingArguments file the Trainer's per_device_train_batch_size fills it (same numbers).
  const std::string args = write("args_ds.json", R"({"per_device_train_batch_size": 4, "bf16": true})");
  const CliRun both = run({"estimate", "--num-parameters", "7e9", "--accelerate-config",
                           fixture("accelerate_deepspeed_zero3.yaml"), "--hf-training-args", args, "--format", "json"});
  ASSERT_EQ(both.code, 0) << both.err;
  EXPECT_EQ(both.json()["ranks"][0]["bytes"], j["ranks"][0]["bytes"]);  // AdamW (the Trainer's optim) = Adam's bytes
  EXPECT_EQ(both.json()["config"]["global_batch_size"], 32);
  // Offload in the inline section reaches the offload model: the optimizer states leave the GPU.
  const std::string off = write("acc_off.yaml",
                                "distributed_type: DEEPSPEED\nmixed_precision: bf16\nnum_processes: 8\n"
                                "deepspeed_config:\n  zero_stage: 3\n  offload_optimizer_device: cpu\n");
  const CliRun o = run({"estimate", "--num-parameters", "7e9", "--accelerate-config", off, "--micro-batch-size", "1",
                        "--format", "json"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(bytes(o.json(), "optimizer_states"), 0u);
}

TEST(AccelerateConfig, FsdpSections) {
  // FSDP1 as `accelerate config` writes it: FULL_SHARD = ZeRO-3-like; bf16 under FSDP is the mixed-precision policy
  // accelerate sets (FullyShardedDataParallelPlugin.set_mixed_precision: MixedPrecision(param_dtype=bf16, ...)) over
  // the fp32 parameters: recipe fsdp-mp.
  const TrainerInputs v1 = load_accelerate_config(fixture("accelerate_fsdp1.yaml"), {}, nullptr);
  EXPECT_EQ(text(v1, "zero_stage"), "3");
  EXPECT_EQ(text(v1, "framework"), "hf");
  EXPECT_EQ(text(v1, "world_size"), "2");
  EXPECT_EQ(text(v1, "recipe"), "fsdp-mp");
  EXPECT_TRUE(v1.unresolved.empty());
  EXPECT_TRUE(has(v1.ignored, "fsdp_config.fsdp_state_dict_type"));
  EXPECT_TRUE(has(v1.not_modelled, "fsdp_config.fsdp_backward_prefetch"));  // BACKWARD_PRE gathers one unit ahead
  // FSDP2: fsdp_reshard_after_forward false = SHARD_GRAD_OP-like (zero_stage 2); activation checkpointing = full.
  const TrainerInputs v2 = load_accelerate_config(fixture("accelerate_fsdp2.yaml"), {}, nullptr);
  EXPECT_EQ(text(v2, "zero_stage"), "2");
  EXPECT_EQ(text(v2, "recompute_granularity"), "full");
  EXPECT_EQ(text(v2, "recipe"), "fp32");  // mixed_precision 'no': the fp32 parameters
  EXPECT_EQ(text(v2, "world_size"), "4");
  // MULTI_GPU over two machines: world 16, 8 per node; fp16 = autocast (recipe amp), DDP.
  const TrainerInputs ddp = load_accelerate_config(fixture("accelerate_multi_gpu.yaml"), {}, nullptr);
  EXPECT_EQ(text(ddp, "world_size"), "16");
  EXPECT_EQ(text(ddp, "gpus_per_node"), "8");
  EXPECT_EQ(text(ddp, "recipe"), "amp");
  EXPECT_EQ(text(ddp, "zero_stage"), "0");
  EXPECT_TRUE(has(ddp.ignored, "main_process_ip"));
  // NO_SHARD is DDP; the sharding strategy may also be accelerate's number (1 FULL_SHARD ... 5).
  const auto stage_of = [](const std::string& strategy) {
    const auto cfg = nlohmann::json::parse(R"({"distributed_type": "FSDP", "num_processes": 2, "fsdp_config": )"
                                           R"({"fsdp_sharding_strategy": )" +
                                           strategy + "}}");
    return text(accelerate_config_from_json(cfg, "a.yaml", ".", {}, nullptr), "zero_stage");
  };
  EXPECT_EQ(stage_of("\"NO_SHARD\""), "0");
  EXPECT_EQ(stage_of("\"SHARD_GRAD_OP\""), "2");
  EXPECT_EQ(stage_of("1"), "3");
  // HSDP: HYBRID_SHARD is FULL_SHARD within the shard group, HYBRID_SHARD_ZERO2 SHARD_GRAD_OP (numbers 4, 5).
  EXPECT_EQ(stage_of("\"HYBRID_SHARD\""), "3");
  EXPECT_EQ(stage_of("\"HYBRID_SHARD_ZERO2\""), "2");
  EXPECT_EQ(stage_of("4"), "3");
  EXPECT_EQ(stage_of("5"), "2");
  const TrainerInputs hy = load_accelerate_config(fixture("accelerate_fsdp_hybrid.yaml"), {}, nullptr);
  EXPECT_EQ(hy.hybrid_shard, "fsdp_config.fsdp_sharding_strategy (in accelerate_fsdp_hybrid.yaml) = hybrid_shard");
  EXPECT_EQ(hy.node_gpus, 8);                          // num_processes 16 / num_machines 2
  EXPECT_EQ(text(hy, "shard_group_size"), "(unset)");  // set once dp is known (apply_hybrid_shard)
  // No fsdp_config / deepspeed_config section: the plugins' defaults (FULL_SHARD; ZeRO stage 2).
  EXPECT_EQ(text(accelerate_config_from_json(nlohmann::json::parse(R"({"distributed_type": "FSDP"})"), "a.yaml", ".",
                                             {}, nullptr),
                 "zero_stage"),
            "3");
  const TrainerInputs ds = accelerate_config_from_json(nlohmann::json::parse(R"({"distributed_type": "DEEPSPEED"})"),
                                                       "a.yaml", ".", {}, nullptr);
  ASSERT_TRUE(ds.deepspeed.has_value());
  EXPECT_EQ(ds.deepspeed->settings.at("zero_stage").text, "2");
}

// HSDP as `accelerate config` writes it (accelerate_fsdp_hybrid.yaml: FSDP1 HYBRID_SHARD, 16 processes on 2
// machines): PyTorch shards within each node's 8 GPUs and replicates across the 2 nodes, so shard_group_size 8 of
// dp 16. A 7e9-parameter model loaded in bf16 (--recipe bf16: bf16 params 2 + grads 2 + AdamW m, v in bf16 2 + 2
// bytes), each state / 8: 7e9 / 8 = 875,000,000 elements per rank ->
//   params 2 * 875e6 = 1,750,000,000; grads 1,750,000,000; optimizer_states 4 * 875e6 = 3,500,000,000
// (plain FSDP over 16 holds half of each: 875,000,000 / 875,000,000 / 1,750,000,000).
TEST(AccelerateConfigCli, HybridShardShardsWithinANode) {
  const std::uint64_t shard = 875'000'000ULL;
  const CliRun r = run({"estimate", "--num-parameters", "7e9", "--recipe", "bf16", "--accelerate-config",
                        fixture("accelerate_fsdp_hybrid.yaml"), "--micro-batch-size", "1", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(j["config"]["dp"], 16);
  EXPECT_EQ(j["config"]["shard_group_size"], 8);
  EXPECT_EQ(j["config"]["zero_stage"], 3);
  EXPECT_EQ(bytes(j, "params"), 2 * shard);
  EXPECT_EQ(bytes(j, "grads"), 2 * shard);
  EXPECT_EQ(bytes(j, "optimizer_states"), 4 * shard);
  EXPECT_NE(r.err.find("shard_group_size 8 (fsdp_config.fsdp_sharding_strategy (in accelerate_fsdp_hybrid.yaml) = "
                       "hybrid_shard: HSDP, sharded within a node of 8 GPUs (num_processes / num_machines), "
                       "replicated across 2 of them"),
            std::string::npos)
      << r.err;
  // --shard-group-size replaces the node: 16 = all of dp, plain FSDP, half of each state.
  const CliRun all = run({"estimate", "--num-parameters", "7e9", "--recipe", "bf16", "--accelerate-config",
                          fixture("accelerate_fsdp_hybrid.yaml"), "--micro-batch-size", "1", "--shard-group-size", "16",
                          "--format", "json"});
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_EQ(bytes(all.json(), "params"), shard);
  EXPECT_EQ(bytes(all.json(), "optimizer_states"), 2 * shard);
  // The flags alone say the same: --framework hf --zero-stage 3 --dp 16 --shard-group-size 8.
  const CliRun flags =
      run({"estimate", "--num-parameters", "7e9", "--recipe", "bf16", "--framework", "hf", "--zero-stage", "3", "--dp",
           "16", "--shard-group-size", "8", "--micro-batch-size", "1", "--gpus-per-node", "8", "--format", "json"});
  ASSERT_EQ(flags.code, 0) << flags.err;
  EXPECT_EQ(flags.json()["ranks"], j["ranks"]);
  // One machine: the node is every process, so HYBRID_SHARD is plain FULL_SHARD (shard_group_size = dp 4).
  const std::string one = write("acc_hybrid_one.yaml",
                                "distributed_type: FSDP\nnum_processes: 4\nfsdp_config:\n"
                                "  fsdp_sharding_strategy: HYBRID_SHARD\n");
  const CliRun o = run({"estimate", "--num-parameters", "7e9", "--recipe", "bf16", "--accelerate-config", one,
                        "--micro-batch-size", "1", "--format", "json"});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.json()["config"]["shard_group_size"], 4);
  EXPECT_EQ(bytes(o.json(), "params"), 2 * 7'000'000'000ULL / 4);
  EXPECT_NE(o.err.find("all of dp 4: plain FSDP"), std::string::npos) << o.err;
  // A shard group that does not divide dp is an error naming the field.
  const CliRun bad =
      run({"estimate", "--num-parameters", "7e9", "--recipe", "bf16", "--accelerate-config",
           fixture("accelerate_fsdp_hybrid.yaml"), "--micro-batch-size", "1", "--shard-group-size", "5"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("shard_group_size = 5: data_parallel_size (16) is not divisible by it"), std::string::npos)
      << bad.err;
}

// The FSDP1 file with --recipe bf16 equals the explicit flags: FSDP2 full shard is --framework hf --zero-stage 3.
TEST(AccelerateConfigCli, FsdpEqualsTheFlags) {
  const CliRun a = run({"estimate", "--model", "llama2-7b", "--seq-length", "512", "--recipe", "bf16",
                        "--accelerate-config", fixture("accelerate_fsdp1.yaml"), "--format", "json"});
  const CliRun b = run({"estimate", "--model", "llama2-7b", "--seq-length", "512", "--recipe", "bf16", "--framework",
                        "hf", "--zero-stage", "3", "--world-size", "2", "--format", "json"});
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.json()["ranks"], b.json()["ranks"]);
  // DDP over 16 with fp16 autocast, Llama-2 7B: fp32 parameters 4P and Adam m, v 8P whole on every rank
  // (P = 6,738,415,616).
  const CliRun d = run({"estimate", "--model", "llama2-7b", "--seq-length", "512", "--micro-batch-size", "1",
                        "--accelerate-config", fixture("accelerate_multi_gpu.yaml"), "--format", "json"});
  ASSERT_EQ(d.code, 0) << d.err;
  const std::uint64_t p = 6'738'415'616ULL;
  EXPECT_EQ(bytes(d.json(), "params"), 4 * p);
  EXPECT_EQ(bytes(d.json(), "optimizer_states"), 8 * p);
  EXPECT_EQ(d.json()["config"]["dp"], 16);
}

// FSDP mixed precision over fp32 parameters (accelerate_fsdp1.yaml: FULL_SHARD over 2 processes, bf16), bare
// 7e9 parameters: FSDP keeps the fp32 shard (torch/distributed/fsdp MixedPrecisionPolicy: "the optimizer step uses
// the sharded parameter in the original dtype", no extra high-precision copy), the gradient is reduce-scattered in
// bf16 and kept as an fp32 sharded gradient, and AdamW's m and v are fp32 like the shard. Per rank, N = 2:
//   params 4 * 7e9 / 2 = 14,000,000,000; grads 4 * 7e9 / 2 = 14,000,000,000; master 0;
//   optimizer_states 8 * 7e9 / 2 = 28,000,000,000; 16 / N = 8 bytes per parameter per rank.
TEST(AccelerateConfigCli, FsdpMixedPrecisionKeepsFp32Shards) {
  const CliRun r = run({"estimate", "--num-parameters", "7e9", "--accelerate-config", fixture("accelerate_fsdp1.yaml"),
                        "--micro-batch-size", "1", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(bytes(r.json(), "params"), 14'000'000'000ULL);
  EXPECT_EQ(bytes(r.json(), "grads"), 14'000'000'000ULL);
  EXPECT_EQ(bytes(r.json(), "master_params"), 0ULL);
  EXPECT_EQ(bytes(r.json(), "optimizer_states"), 28'000'000'000ULL);
  EXPECT_EQ(r.json()["config"]["recipe"], "fsdp-mp");
  EXPECT_NE(r.err.find("recipe fsdp-mp (mixed_precision \"bf16\" with FSDP"), std::string::npos) << r.err;
  // The same with the flags: --recipe fsdp-mp (alias fsdp-bf16) --framework hf --zero-stage 3.
  const CliRun f = run({"estimate", "--num-parameters", "7e9", "--recipe", "fsdp-bf16", "--framework", "hf",
                        "--zero-stage", "3", "--dp", "2", "--format", "json"});
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_EQ(f.json()["ranks"], r.json()["ranks"]);
  // fsdp_config.fsdp_mixed_precision_policy: an explicit policy decides. param_dtype float32 with mixed_precision
  // bf16 is autocast over fp32 FSDP (recipe amp: the same 16 / N bytes, fp32 all-gathers); param_dtype bfloat16
  // with mixed_precision no is the 16-bit policy alone (fsdp-mp).
  const std::string fp32_policy =
      write("mp_fp32.yaml",
            "distributed_type: FSDP\nmixed_precision: bf16\nnum_processes: 4\nfsdp_config:\n"
            "  fsdp_mixed_precision_policy:\n    param_dtype: float32\n    reduce_dtype: float32\n");
  EXPECT_EQ(text(load_accelerate_config(fp32_policy, {}, nullptr), "recipe"), "amp");
  const std::string bf16_policy = write("mp_bf16.yaml",
                                        "distributed_type: FSDP\nmixed_precision: 'no'\nnum_processes: 4\n"
                                        "fsdp_config:\n  fsdp_mixed_precision_policy:\n    param_dtype: bfloat16\n");
  EXPECT_EQ(text(load_accelerate_config(bf16_policy, {}, nullptr), "recipe"), "fsdp-mp");
  const std::string bad = write("mp_bad.yaml",
                                "distributed_type: FSDP\nnum_processes: 4\nfsdp_config:\n"
                                "  fsdp_mixed_precision_policy:\n    param_dtype: int8\n");
  const CliRun e = run({"estimate", "--num-parameters", "7e9", "--accelerate-config", bad});
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.err.find("fsdp_config.fsdp_mixed_precision_policy.param_dtype (in mp_bad.yaml) = \"int8\": must be a "
                       "dtype"),
            std::string::npos)
      << e.err;
  // FSDP mixed precision needs FSDP: under DDP (zero_stage 0) the recipe is refused, naming it.
  const CliRun d =
      run({"estimate", "--num-parameters", "7e9", "--recipe", "fsdp-mp", "--framework", "hf", "--dp", "2"});
  EXPECT_EQ(d.code, 2);
  EXPECT_NE(d.err.find("recipe = fsdp-mp: is PyTorch FSDP's mixed-precision policy"), std::string::npos) << d.err;
  // plan searches non-FSDP layouts too: it refuses the recipe with its own message.
  const CliRun p = run({"plan", "--model", "llama2-7b", "--accelerate-config", fixture("accelerate_fsdp1.yaml"),
                        "--gpu", "h100-80gb", "--global-batch-size", "8"});
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.err.find("recipe = fsdp-mp: (FSDP mixed precision) is not searched by plan"), std::string::npos) << p.err;
}

TEST(AccelerateConfigCli, ErrorsNameTheKey) {
  struct Bad {
    const char* yaml;
    const char* message;
  };
  for (const Bad& b : {
           Bad{"distributed_type: MEGATRON_LM\n", "distributed_type (in bad.yaml) = \"MEGATRON_LM\": is not modelled"},
           Bad{"distributed_type: MULTI_GPU\nmixed_precision: fp8\nnum_processes: 2\n",
               "mixed_precision (in bad.yaml) = \"fp8\": FP8 training is not modelled"},
           Bad{"distributed_type: FSDP\nnum_processes: 8\nfsdp_config:\n  fsdp_offload_params: true\n",
               "fsdp_config.fsdp_offload_params (in bad.yaml) = true: FSDP CPU offload is not modelled"},
           Bad{"distributed_type: MULTI_GPU\nnum_processes: 3\nnum_machines: 2\n",
               "num_processes (in bad.yaml) = 3: is not divisible by num_machines 2"},
           Bad{"distributed_type: MULTI_GPU\nnum_machines: 2\n",
               "num_processes (in bad.yaml) = 1: is not divisible by num_machines 2"},
           Bad{"distributed_type: MULTI_GPU\nnum_procesess: 3\n",
               "num_procesess (in bad.yaml) = 3: unknown accelerate"},
           Bad{"distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 4\n",
               "deepspeed_config.zero_stage (in bad.yaml) = 4: must be 0, 1, 2 or 3"},
           Bad{"distributed_type: [a\n", "accelerate_config = "},
       }) {
    const std::string path = write("bad.yaml", b.yaml);
    const CliRun e = run({"estimate", "--model", "llama2-7b", "--accelerate-config", path});
    EXPECT_EQ(e.code, 2) << b.yaml;
    EXPECT_NE(e.err.find(b.message), std::string::npos) << e.err;
  }
  // The Trainer's arguments and accelerate disagreeing is an error naming both.
  const CliRun c = run({"estimate", "--model", "llama2-7b", "--accelerate-config", fixture("accelerate_fsdp2.yaml"),
                        "--hf-training-args", fixture("training_args_sft.json")});
  EXPECT_EQ(c.code, 2);
  EXPECT_NE(c.err.find("given with different values by training_args_sft.json: bf16 and accelerate_fsdp2.yaml: "
                       "mixed_precision"),
            std::string::npos)
      << c.err;
}

}  // namespace
}  // namespace trainmem::tools::test
