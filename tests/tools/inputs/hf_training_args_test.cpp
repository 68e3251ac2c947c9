// Hugging Face TrainingArguments files (--hf-training-args) and the Hugging Face flag names: every mapping onto
// trainmem's settings, the Trainer's ds_config "auto" fill, the FSDP rules, and errors naming the field. Expected
// values come from transformers' training_args.py / integrations/deepspeed.py (cited per test) and hand
// derivations in the comments, never from trainmem's own output. Fixtures: tests/tools/inputs/trainer_configs/.
#include "tools/inputs/hf_training_args.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "partition/error.hpp"
#include "tests/tools/cli_test_util.hpp"
#include "tools/inputs/ecosystem_inputs.hpp"

namespace trainmem::tools::test {
namespace {

std::string fixture(const std::string& name) {
  return std::string(TRAINMEM_SOURCE_DIR) + "/tests/tools/inputs/trainer_configs/" + name;
}
bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}
std::string text(const TrainerInputs& in, const char* key) {
  const auto it = in.settings.find(key);
  return it == in.settings.end() ? "(unset)" : it->second.text;
}
std::uint64_t bytes(const nlohmann::json& j, const char* category) {
  return j["ranks"][0]["bytes"][category].get<std::uint64_t>();
}
TrainerInputs from(const std::string& json_text, const Settings& user = {}) {
  return hf_training_args_from_json(nlohmann::json::parse(json_text), "args.json", ".", user);
}
std::string error_of(const std::string& json_text) {
  try {
    (void)from(json_text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// An SFT recipe: per_device 4, accumulation 8, bf16, gradient checkpointing, the fused AdamW.
TEST(HfTrainingArgs, SftFileMapsEveryMemoryField) {
  const TrainerInputs in = load_hf_training_args(fixture("training_args_sft.json"), {});
  EXPECT_EQ(text(in, "micro_batch_size"), "4");
  EXPECT_EQ(text(in, "gradient_accumulation_steps"), "8");
  EXPECT_EQ(text(in, "framework"), "hf");
  EXPECT_EQ(text(in, "recipe"), "amp");  // bf16 = autocast over the fp32 parameters from_pretrained loads
  EXPECT_EQ(text(in, "optimizer"), "adamw");
  EXPECT_EQ(text(in, "optimizer_impl"), "fused");  // adamw_torch_fused = torch.optim.AdamW(fused=True)
  EXPECT_EQ(text(in, "recompute_granularity"), "full");
  EXPECT_EQ(in.settings.at("micro_batch_size").origin, "training_args_sft.json: per_device_train_batch_size");
  for (const char* f : {"output_dir", "learning_rate", "logging_steps", "report_to", "seed", "tf32",
                        "per_device_eval_batch_size", "gradient_checkpointing_kwargs"})
    EXPECT_TRUE(has(in.ignored, f)) << f;
  EXPECT_TRUE(in.not_modelled.empty());
  EXPECT_TRUE(in.unresolved.empty());
}

// training_args.py defaults: per_device_train_batch_size 8, gradient_accumulation_steps 1, optim
// adamw_torch_fused (transformers 5), bf16 / fp16 False (the model's fp32), no checkpointing.
TEST(HfTrainingArgs, DefaultsAreTheTrainingArgumentsDefaults) {
  const TrainerInputs in = from(R"({"output_dir": "x"})");
  EXPECT_EQ(text(in, "micro_batch_size"), "8");
  EXPECT_EQ(text(in, "gradient_accumulation_steps"), "1");
  EXPECT_EQ(text(in, "recipe"), "fp32");
  EXPECT_EQ(text(in, "optimizer_impl"), "fused");
  EXPECT_EQ(text(in, "recompute_granularity"), "(unset)");
}

TEST(HfTrainingArgs, OptimNames) {
  struct Case {
    const char* optim;
    const char* optimizer;
    const char* impl;
  };
  for (const Case c : {Case{"adamw_torch", "adamw", "foreach"}, Case{"adamw_torch_fused", "adamw", "fused"},
                       Case{"sgd", "sgd", "foreach"}, Case{"adamw_bnb_8bit", "adam-8bit", "(unset)"},
                       Case{"paged_adamw_8bit", "adam-8bit", "(unset)"},
                       // transformers OptimizerNames ADAMW_TORCH_4BIT / _8BIT: torchao.optim.AdamW4bit / AdamW8bit.
                       Case{"adamw_torch_4bit", "adamw-torchao-4bit", "(unset)"},
                       Case{"adamw_torch_8bit", "adamw-torchao-8bit", "(unset)"}}) {
    const TrainerInputs in = from(std::string(R"({"optim": ")") + c.optim + "\"}");
    EXPECT_EQ(text(in, "optimizer"), c.optimizer) << c.optim;
    EXPECT_EQ(text(in, "optimizer_impl"), c.impl) << c.optim;
  }
  // torch.optim.SGD takes momentum from optim_args (default 0).
  EXPECT_EQ(text(from(R"({"optim": "sgd", "optim_args": "momentum=0.9"})"), "optimizer"), "sgd-momentum");
  // Optimizers trainmem has no states for are unresolved: an error unless --optimizer gives one.
  const TrainerInputs ada = from(R"({"optim": "adafactor"})");
  ASSERT_EQ(ada.unresolved.size(), 1u);
  EXPECT_EQ(ada.unresolved[0].key, "optimizer");
  EXPECT_EQ(ada.unresolved[0].field, "optim (in args.json)");
  EXPECT_EQ(ada.unresolved[0].value, "\"adafactor\"");
  const CliRun r = run({"estimate", "--num-parameters", "1e9", "--hf-training-args", fixture("training_args_sft.json"),
                        "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;  // the SFT file resolves everything
}

TEST(HfTrainingArgs, ErrorsNameTheField) {
  EXPECT_NE(error_of(R"({"per_device_train_batch_sise": 4})")
                .find("per_device_train_batch_sise (in args.json) = 4: unknown TrainingArguments field (did you mean "
                      "'per_device_train_batch_size'?)"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"per_device_train_batch_size": 0})").find("per_device_train_batch_size (in args.json) = 0"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"bf16": true, "fp16": true})").find("bf16 (in args.json) = true"), std::string::npos);
  EXPECT_NE(error_of(R"({"use_cpu": true})").find("use_cpu (in args.json) = true: trains on the CPU"),
            std::string::npos);
  // FSDP2 refuses the FSDP1-only strategies (FSDP1 hybrid sharding, HSDP, is modelled: HybridShard below); offload
  // is refused.
  EXPECT_NE(error_of(R"({"fsdp": "hybrid_shard"})")
                .find("fsdp (in args.json) = \"hybrid_shard\": is only available "
                      "with FSDP1"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"fsdp": "hybrid_shard", "fsdp_config": {"version": 1}})"), "(no error)");
  EXPECT_NE(error_of(R"({"fsdp": "full_shard offload"})").find("FSDP CPU offload is not modelled"), std::string::npos);
  EXPECT_NE(error_of(R"({"fsdp": true, "fsdp_config": {"reshard_after_forwrd": false}})")
                .find("fsdp_config.reshard_after_forwrd (in args.json) = false: unknown FSDP key"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"fsdp": true, "deepspeed": {"zero_optimization": {"stage": 3}}})")
                .find("fsdp (in args.json) = true: and deepspeed are both set"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"accelerator_config": {"split_batches": true}})").find("splits each batch"),
            std::string::npos);
  EXPECT_EQ(error_of(R"({"accelerator_config": {"split_batches": "x"}})"), "(no error)");  // no JSON type error
  // A memory-relevant field trainmem does not model is listed, not silently dropped.
  EXPECT_TRUE(has(from(R"({"torch_compile": true})").not_modelled, "torch_compile"));
}

// FSDP: "full_shard auto_wrap" (legacy string) = fully_shard with reshard_after_forward=True = zero_stage 3;
// shard_grad_op / reshard_after_forward false = zero_stage 2 (docs/frameworks.md); bf16 under FSDP is the
// mixed-precision policy the Trainer's accelerate sets over the fp32 parameters (recipe fsdp-mp).
TEST(HfTrainingArgs, FsdpStrategies) {
  const TrainerInputs full = load_hf_training_args(fixture("training_args_fsdp.json"), {});
  EXPECT_EQ(text(full, "zero_stage"), "3");
  EXPECT_EQ(text(full, "framework"), "hf");
  EXPECT_EQ(text(full, "recipe"), "fsdp-mp");
  EXPECT_TRUE(full.unresolved.empty());
  EXPECT_TRUE(has(full.ignored, "fsdp_config.state_dict_type"));
  EXPECT_EQ(text(from(R"({"fsdp": "shard_grad_op auto_wrap"})"), "zero_stage"), "2");
  EXPECT_EQ(text(from(R"({"fsdp": true, "fsdp_config": {"reshard_after_forward": false}})"), "zero_stage"), "2");
  EXPECT_EQ(text(from(R"({"fsdp": "no_shard", "fsdp_config": {"fsdp_version": 1}})"), "zero_stage"), "0");
  EXPECT_EQ(text(from(R"({"fsdp": true, "fsdp_config": {"activation_checkpointing": true}})"), "recompute_granularity"),
            "full");
  EXPECT_EQ(text(from(R"({"fsdp": false, "bf16": true})"), "zero_stage"), "(unset)");
  // The CLI: without --recipe the FSDP bf16 file is FSDP mixed precision over fp32 shards. Llama-2 7B over dp 2
  // (every dim 0 even: P / 2 = 6,738,415,616 / 2 = 3,369,207,808 elements per rank): fp32 shards 4 * 3,369,207,808 =
  // 13,476,831,232 B and AdamW m, v 8 * 3,369,207,808 = 26,953,662,464 B. With --recipe bf16 (a model loaded in
  // bfloat16) the estimate equals the explicit flags (FSDP2 full shard = --framework hf --zero-stage 3; 1 * 2 * dp 2
  // = global 4).
  const CliRun mp = run({"estimate", "--model", "llama2-7b", "--dp", "2", "--seq-length", "512", "--hf-training-args",
                         fixture("training_args_fsdp.json"), "--format", "json"});
  ASSERT_EQ(mp.code, 0) << mp.err;
  EXPECT_EQ(mp.json()["config"]["recipe"], "fsdp-mp");
  EXPECT_EQ(mp.json()["ranks"][0]["bytes"]["params"].get<std::uint64_t>(), 13'476'831'232ULL);
  EXPECT_EQ(mp.json()["ranks"][0]["bytes"]["optimizer_states"].get<std::uint64_t>(), 26'953'662'464ULL);
  const CliRun a = run({"estimate", "--model", "llama2-7b", "--dp", "2", "--seq-length", "512", "--recipe", "bf16",
                        "--hf-training-args", fixture("training_args_fsdp.json"), "--format", "json"});
  const CliRun b = run({"estimate",  "--model",
                        "llama2-7b", "--dp",
                        "2",         "--seq-length",
                        "512",       "--recipe",
                        "bf16",      "--framework",
                        "hf",        "--zero-stage",
                        "3",         "--optimizer",
                        "adamw",     "--optimizer-impl",
                        "foreach",   "--micro-batch-size",
                        "1",         "--global-batch-size",
                        "4",         "--format",
                        "json"});
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.json()["ranks"], b.json()["ranks"]);
  EXPECT_EQ(a.json()["config"]["global_batch_size"], 4);
}

// TrainingArguments fsdp "hybrid_shard" (FSDP1; training_args_hybrid.json, neither bf16 nor fp16: recipe fp32 =
// params 4 + grads 4 + Adam m, v 8 bytes): PyTorch shards within a node and replicates across nodes. The file does
// not say how many GPUs a node has: gpus_per_node does (default 8). dp 16, 7e9 parameters, shard group 8: each
// state / 8 = 875,000,000 elements: params 4 * 875e6 = 3,500,000,000, optimizer_states 8 * 875e6 = 7,000,000,000.
// With --gpus-per-node 4 the group is 4: params 4 * 7e9 / 4 = 7,000,000,000.
TEST(HfTrainingArgsCli, HybridShardUsesTheNodeAsShardGroup) {
  const TrainerInputs in = load_hf_training_args(fixture("training_args_hybrid.json"), {});
  EXPECT_EQ(text(in, "zero_stage"), "3");
  EXPECT_EQ(in.hybrid_shard, "fsdp (in training_args_hybrid.json) = hybrid_shard");
  const CliRun r = run({"estimate", "--num-parameters", "7e9", "--dp", "16", "--hf-training-args",
                        fixture("training_args_hybrid.json"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.json()["config"]["shard_group_size"], 8);
  EXPECT_EQ(bytes(r.json(), "params"), 3'500'000'000ULL);
  EXPECT_EQ(bytes(r.json(), "optimizer_states"), 7'000'000'000ULL);
  EXPECT_NE(r.err.find("a node of 8 GPUs (gpus_per_node), replicated across 2 of them"), std::string::npos) << r.err;
  const CliRun four = run({"estimate", "--num-parameters", "7e9", "--dp", "16", "--gpus-per-node", "4",
                           "--hf-training-args", fixture("training_args_hybrid.json"), "--format", "json"});
  ASSERT_EQ(four.code, 0) << four.err;
  EXPECT_EQ(four.json()["config"]["shard_group_size"], 4);
  EXPECT_EQ(bytes(four.json(), "params"), 7'000'000'000ULL);
  // 12 ranks are not whole nodes of 8: the shard group does not divide dp.
  const CliRun twelve = run({"estimate", "--num-parameters", "7e9", "--dp", "12", "--hf-training-args",
                             fixture("training_args_hybrid.json")});
  EXPECT_EQ(twelve.code, 2);
  EXPECT_NE(twelve.err.find("shard_group_size = 8: data_parallel_size (12) is not divisible by it"), std::string::npos)
      << twelve.err;
}

// The SFT file end to end on Llama-2 7B at dp 2. P = 6,738,415,616 (the preset's count, docs/model-states.md).
// recipe amp: fp32 parameters 4P = 26,953,662,464 B; AdamW m and v in fp32 8P = 53,907,324,928 B, at every step
// point of the hf profile (docs/frameworks.md). Batch: 4 per device * 8 accumulation * dp 2 = 64 sequences.
TEST(HfTrainingArgsCli, SftFileOnLlama7b) {
  const CliRun r = run({"estimate", "--model", "llama2-7b", "--dp", "2", "--seq-length", "1024", "--hf-training-args",
                        fixture("training_args_sft.json"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  const std::uint64_t p = 6'738'415'616ULL;
  EXPECT_EQ(bytes(j, "params"), 4 * p);
  EXPECT_EQ(bytes(j, "optimizer_states"), 8 * p);
  EXPECT_EQ(j["config"]["recipe"], "amp");
  EXPECT_EQ(j["config"]["micro_batch_size"], 4);
  EXPECT_EQ(j["config"]["global_batch_size"], 64);
  EXPECT_NE(r.err.find("trainmem: notice: training_args_sft.json: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("global_batch_size 64 (micro_batch_size * gradient_accumulation_steps * dp = 4 * 8 * 2)"),
            std::string::npos)
      << r.err;
  // A flag wins over the file: --per-device-train-batch-size 2 gives 2 * 8 * 2 = 32.
  const CliRun f = run({"estimate", "--model", "llama2-7b", "--dp", "2", "--seq-length", "1024", "--hf-training-args",
                        fixture("training_args_sft.json"), "--per-device-train-batch-size", "2", "--format", "json"});
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_EQ(f.json()["config"]["global_batch_size"], 32);
}

// TrainingArguments YAML naming a ds_config with "auto" values: the Trainer fills them (integrations/deepspeed.py
// trainer_config_process): micro 2, gradient_accumulation_steps 4, bf16.enabled true; train_batch_size = world *
// 2 * 4 = 64 at dp 8. bf16 at ZeRO-3 runs the ZeRO optimizer (mixed-20, docs/ecosystem-inputs.md); the bucket
// "auto" values come from h = 4096: reduce_bucket_size h^2 = 16,777,216. (The model-state bytes of the same
// ZeRO-3 are checked through accelerate in accelerate_config_test.cpp.)
TEST(HfTrainingArgsCli, DeepSpeedAutoValuesFilledByTheTrainer) {
  const CliRun r = run({"estimate", "--model", "llama2-7b", "--dp", "8", "--seq-length", "1024", "--hf-training-args",
                        fixture("training_args_ds_zero3.yaml"), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  EXPECT_EQ(j["config"]["recipe"], "mixed-20");
  EXPECT_EQ(j["config"]["zero_stage"], 3);
  EXPECT_EQ(j["config"]["micro_batch_size"], 2);
  EXPECT_EQ(j["config"]["global_batch_size"], 64);
  EXPECT_NE(r.err.find("reduce_bucket_size 16777216"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("recipe mixed-20 (bf16.enabled, ZeRO stage 3)"), std::string::npos) << r.err;
  // A ds_config value that differs from the arguments is refused, as the Trainer's fill_match does.
  const std::string dir = testing::TempDir();
  std::ofstream(dir + "/mismatch.json")
      << R"({"train_micro_batch_size_per_gpu": 16, "zero_optimization": {"stage": 2}})";
  std::ofstream(dir + "/args.json") << R"({"per_device_train_batch_size": 2, "deepspeed": "mismatch.json"})";
  const CliRun m = run({"estimate", "--num-parameters", "7e9", "--dp", "8", "--hf-training-args", dir + "/args.json"});
  EXPECT_EQ(m.code, 2);
  EXPECT_NE(m.err.find("train_micro_batch_size_per_gpu (in mismatch.json) = 16: differs from args.json: "
                       "per_device_train_batch_size = 2"),
            std::string::npos)
      << m.err;
}

// --per-device-train-batch-size, --gradient-accumulation-steps, --gradient-checkpointing, --bf16, --fp16.
TEST(HfFlagNames, MapOntoTheExistingSettings) {
  const CliRun r = run({"estimate", "--num-parameters", "1e9", "--dp", "4", "--per-device-train-batch-size", "2",
                        "--gradient-accumulation-steps", "3", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.json()["config"]["micro_batch_size"], 2);
  EXPECT_EQ(r.json()["config"]["global_batch_size"], 24);  // 2 * 3 * 4
  const CliRun amp = run({"estimate", "--num-parameters", "1e9", "--framework", "hf", "--bf16", "--format", "json"});
  ASSERT_EQ(amp.code, 0) << amp.err;
  EXPECT_EQ(amp.json()["config"]["recipe"], "amp");
  struct Bad {
    std::vector<std::string> args;
    const char* message;
  };
  for (const Bad& b :
       {Bad{{"--micro-batch-size", "2", "--per-device-train-batch-size", "4"},
            "micro_batch_size = 2 / 4: given twice with different values (--micro-batch-size and "
            "--per-device-train-batch-size)"},
        Bad{{"--gradient-checkpointing", "--recompute-granularity", "selective"},
            "recompute_granularity = selective / full: given twice with different values"},
        Bad{{"--bf16", "--fp16"}, "bf16 = true: --fp16 is also given"},
        Bad{{"--bf16", "--recipe", "fp32"}, "recipe = fp32 / amp: given twice with different values"},
        Bad{{"--gradient-accumulation-steps", "3", "--global-batch-size", "8"},
            "global_batch_size = 8: is not micro_batch_size * gradient_accumulation_steps * dp = 1 * 3 * 1 = 3"},
        Bad{{"--bf16", "--deepspeed-config", "ds.json"},
            "bf16 = true: with --deepspeed-config the precision is the "
            "ds_config's"},
        Bad{{"--gradient-accumulation-steps", "0"}, "gradient_accumulation_steps = 0: must be a whole number"}}) {
    std::vector<std::string> args = {"estimate", "--num-parameters", "1e9"};
    args.insert(args.end(), b.args.begin(), b.args.end());
    const CliRun e = run(args);
    EXPECT_EQ(e.code, 2) << b.message;
    EXPECT_NE(e.err.find(b.message), std::string::npos) << e.err;
  }
}

}  // namespace
}  // namespace trainmem::tools::test
