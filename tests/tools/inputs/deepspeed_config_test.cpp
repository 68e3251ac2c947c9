// DeepSpeed ds_config.json loading: every mapping onto trainmem's keys, the recipe DeepSpeed runs, its batch
// rule, Hugging Face "auto" values, and every error naming the key path. Expected values come from
// DeepSpeed's config classes and optimizers (cited per test) or hand derivations in the comments, never from
// trainmem's own output.
#include "tools/inputs/deepspeed_config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "partition/error.hpp"
#include "tests/tools/cli_test_util.hpp"
#include "tools/inputs/ecosystem_inputs.hpp"

namespace trainmem::tools::test {
namespace {

std::string temp_file(const std::string& name, const std::string& content) {
  const auto dir = std::filesystem::temp_directory_path() / "trainmem_deepspeed_config_test";
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The ZeRO-3 Offload example of DeepSpeed's ZeRO tutorial (docs/_tutorials/zero.md), verbatim.
const char* kZero3OffloadTutorial = R"({
    "zero_optimization": {
        "stage": 3,
        "contiguous_gradients": true,
        "stage3_max_live_parameters": 1e9,
        "stage3_max_reuse_distance": 1e9,
        "stage3_prefetch_bucket_size": 1e7,
        "stage3_param_persistence_threshold": 1e5,
        "reduce_bucket_size": 1e7,
        "sub_group_size": 1e9,
        "offload_optimizer": {
            "device": "cpu"
         },
        "offload_param": {
            "device": "cpu"
       }
   }
})";

// The Hugging Face Trainer's ZeRO-3 example (transformers docs, "deepspeed" page: ds_config_zero3.json).
const char* kHfZero3Auto = R"({
    "fp16": {"enabled": "auto", "loss_scale": 0, "loss_scale_window": 1000, "initial_scale_power": 16,
             "hysteresis": 2, "min_loss_scale": 1},
    "bf16": {"enabled": "auto"},
    "optimizer": {"type": "AdamW", "params": {"lr": "auto", "betas": "auto", "eps": "auto", "weight_decay": "auto"}},
    "scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto",
                                                 "warmup_num_steps": "auto"}},
    "zero_optimization": {
        "stage": 3,
        "offload_optimizer": {"device": "cpu", "pin_memory": true},
        "offload_param": {"device": "cpu", "pin_memory": true},
        "overlap_comm": true,
        "contiguous_gradients": true,
        "sub_group_size": 1e9,
        "reduce_bucket_size": "auto",
        "stage3_prefetch_bucket_size": "auto",
        "stage3_param_persistence_threshold": "auto",
        "stage3_max_live_parameters": 1e9,
        "stage3_max_reuse_distance": 1e9,
        "stage3_gather_16bit_weights_on_model_save": true
    },
    "gradient_accumulation_steps": "auto",
    "gradient_clipping": "auto",
    "steps_per_print": 2000,
    "train_batch_size": "auto",
    "train_micro_batch_size_per_gpu": "auto",
    "wall_clock_breakdown": false
})";

// The Hugging Face ZeRO-2 example with its autos replaced by numbers (fp16, 4 x 4 x dp 4 = 64).
const char* kZero2Fp16 = R"({
    "fp16": {"enabled": true, "loss_scale": 0, "loss_scale_window": 1000, "initial_scale_power": 16,
             "hysteresis": 2, "min_loss_scale": 1},
    "optimizer": {"type": "AdamW", "params": {"lr": 3e-5, "betas": [0.8, 0.999], "eps": 1e-8, "weight_decay": 3e-7}},
    "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "none"}, "allgather_partitions": true,
        "allgather_bucket_size": 2e8, "overlap_comm": true, "reduce_scatter": true, "reduce_bucket_size": 2e8,
        "contiguous_gradients": true},
    "gradient_accumulation_steps": 4,
    "gradient_clipping": 1.0,
    "steps_per_print": 2000,
    "train_batch_size": 64,
    "train_micro_batch_size_per_gpu": 4,
    "wall_clock_breakdown": false
})";

TEST(DeepSpeedConfig, Zero3OffloadTutorialMapsEveryKnob) {
  const DeepSpeedConfig c = deepspeed_config_from_json(kZero3OffloadTutorial, "/some/dir/ds_config.json");
  EXPECT_EQ(c.origin, "ds_config.json");
  const Settings& s = c.settings;
  EXPECT_EQ(s.at("zero_stage").text, "3");
  EXPECT_EQ(s.at("zero_stage").origin, "ds_config.json: zero_optimization.stage");
  EXPECT_EQ(s.at("contiguous_gradients").text, "true");
  // 1e9, 1e7, 1e5: DeepSpeed reads these floats as whole element counts (pydantic int coercion).
  EXPECT_EQ(s.at("stage3_max_live_parameters").text, "1000000000");
  EXPECT_EQ(s.at("stage3_prefetch_bucket_size").text, "10000000");
  EXPECT_EQ(s.at("stage3_param_persistence_threshold").text, "100000");
  EXPECT_EQ(s.at("reduce_bucket_size").text, "10000000");
  EXPECT_EQ(s.at("sub_group_size").text, "1000000000");
  EXPECT_EQ(s.at("offload_optimizer").text, "cpu");
  EXPECT_EQ(s.at("offload_param").text, "cpu");
  EXPECT_EQ(s.at("offload_param").origin, "ds_config.json: zero_optimization.offload_param.device");
  EXPECT_TRUE(c.offload_optimizer);
  // stage3_max_reuse_distance keeps gathered parameters alive: a memory effect trainmem does not model.
  EXPECT_TRUE(contains(c.not_modelled, "zero_optimization.stage3_max_reuse_distance"));
  // No fp16 / bf16 section: DeepSpeed trains in fp32.
  ASSERT_TRUE(c.precision.has_value());
  EXPECT_EQ(*c.precision, DeepSpeedPrecision::fp32);
  EXPECT_TRUE(c.unresolved.empty());
  EXPECT_FALSE(c.train_batch_size || c.micro_batch_size || c.gradient_accumulation_steps);
}

TEST(DeepSpeedConfig, HuggingFaceAutoValuesAreUnresolvedOrDerived) {
  const DeepSpeedConfig c = deepspeed_config_from_json(kHfZero3Auto, "ds_config_zero3.json");
  auto unresolved_key = [&](const std::string& field_prefix) -> std::string {
    for (const auto& u : c.unresolved)
      if (u.field.rfind(field_prefix, 0) == 0) return u.key;
    return "";
  };
  EXPECT_EQ(unresolved_key("train_micro_batch_size_per_gpu"), "micro_batch_size");
  EXPECT_EQ(unresolved_key("train_batch_size"), "global_batch_size");
  EXPECT_EQ(unresolved_key("gradient_accumulation_steps"), "global_batch_size");
  EXPECT_EQ(unresolved_key("fp16.enabled"), "recipe");
  EXPECT_EQ(unresolved_key("bf16.enabled"), "recipe");
  EXPECT_FALSE(c.precision.has_value());
  // The three hidden-size keys the Trainer fills (reduce_bucket_size = h*h, ZeRO-3 prefetch 0.9*h*h,
  // persistence 10*h).
  EXPECT_TRUE(c.auto_reduce_bucket_size);
  EXPECT_TRUE(c.auto_stage3_prefetch_bucket_size);
  EXPECT_TRUE(c.auto_stage3_param_persistence_threshold);
  EXPECT_EQ(c.settings.at("optimizer").text, "adamw");
  // pin_memory of the offloads maps onto trainmem's one switch (page-locked host buffers, docs/offload.md).
  EXPECT_EQ(c.settings.at("offload_pin_memory").text, "true");
  EXPECT_EQ(c.settings.at("offload_pin_memory").origin,
            "ds_config_zero3.json: zero_optimization.offload_param.pin_memory");
  for (const char* k : {"optimizer.params.lr", "optimizer.params.betas", "scheduler", "gradient_clipping",
                        "steps_per_print", "wall_clock_breakdown", "fp16.loss_scale"})
    EXPECT_TRUE(contains(c.ignored, k)) << k;
}

TEST(DeepSpeedConfig, OptimizerTypes) {
  auto opt = [](const std::string& o) {
    const DeepSpeedConfig c = deepspeed_config_from_json(R"({"optimizer": )" + o + "}", "c.json");
    return c.settings.count("optimizer") ? c.settings.at("optimizer").text : "(unresolved)";
  };
  // DeepSpeed lower-cases its optimizer names; Adam and AdamW both keep m and v (runtime/engine.py).
  EXPECT_EQ(opt(R"({"type": "Adam", "params": {"lr": 1e-3}})"), "adam");
  EXPECT_EQ(opt(R"({"type": "AdamW"})"), "adamw");
  EXPECT_EQ(opt(R"({"type": "adamw"})"), "adamw");
  // torch.optim.SGD keeps a momentum buffer only when momentum > 0.
  EXPECT_EQ(opt(R"({"type": "SGD", "params": {"lr": 0.1, "momentum": 0.9}})"), "sgd-momentum");
  EXPECT_EQ(opt(R"({"type": "SGD", "params": {"lr": 0.1}})"), "sgd");
  // The 1-bit optimizers by their ds_config names (runtime/config.py: onebitadam, zerooneadam, onebitlamb).
  EXPECT_EQ(opt(R"({"type": "OneBitAdam", "params": {"freeze_step": 400}})"), "onebit-adam");
  EXPECT_EQ(opt(R"({"type": "ZeroOneAdam"})"), "zero-one-adam");
  EXPECT_EQ(opt(R"({"type": "OneBitLamb"})"), "onebit-lamb");
  EXPECT_EQ(opt(R"({"type": "Lamb"})"), "(unresolved)");
  EXPECT_EQ(opt(R"({"type": "Lion"})"), "(unresolved)");
}

TEST(DeepSpeedConfig, PrecisionAndDeprecatedForms) {
  auto precision = [](const std::string& text) { return deepspeed_config_from_json(text, "c.json").precision; };
  EXPECT_EQ(precision(R"({"fp16": {"enabled": true}})"), DeepSpeedPrecision::fp16);
  EXPECT_EQ(precision(R"({"bf16": {"enabled": true}})"), DeepSpeedPrecision::bf16);
  EXPECT_EQ(precision(R"({"bfloat16": {"enabled": true}})"), DeepSpeedPrecision::bf16);  // BFLOAT16_OLD
  EXPECT_EQ(precision(R"({"fp16": {"enabled": false}, "bf16": {"enabled": false}})"), DeepSpeedPrecision::fp32);
  // "zero_optimization": true is the deprecated form of stage 1 (runtime/zero/config.py).
  EXPECT_EQ(deepspeed_config_from_json(R"({"zero_optimization": true})", "c.json").settings.at("zero_stage").text, "1");
  // cpu_offload (deprecated) = offload_optimizer cpu.
  EXPECT_EQ(deepspeed_config_from_json(R"({"zero_optimization": {"cpu_offload": true}})", "c.json")
                .settings.at("offload_optimizer")
                .text,
            "cpu");
  // A switched-off unmodelled feature is merely ignored.
  const DeepSpeedConfig c = deepspeed_config_from_json(
      R"({"activation_checkpointing": false, "zero_optimization": {"stage3_allgather_sequential": false}})", "c.json");
  EXPECT_TRUE(c.not_modelled.empty());
  EXPECT_TRUE(contains(c.ignored, "zero_optimization.stage3_allgather_sequential"));
}

// Each malformed or unsupported input: ConfigError whose "field = value" names the key path and the file.
TEST(DeepSpeedConfig, ErrorsNameTheKeyPath) {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {R"({"zero_optimization": {"stage": 4}})",
       "zero_optimization.stage (in c.json) = 4: must be a whole number between 0 and 3"},
      {R"({"zero_optimization": {"stage": "3"}})",
       "zero_optimization.stage (in c.json) = \"3\": must be a whole number"},
      {R"({"zero_optimization": {"stage": 2.5}})", "zero_optimization.stage (in c.json) = 2.5"},
      {R"({"zero_optimization": {"offload_optimizer": {"device": "gpu"}}})",
       "zero_optimization.offload_optimizer.device (in c.json) = \"gpu\": must be one of none, cpu, nvme"},
      {R"({"zero_optimization": {"offload_param": {"device": 1}}})",
       "zero_optimization.offload_param.device (in c.json) = 1: must be one of none, cpu, nvme"},
      {R"({"zero_optimization": {"stage3_prefetch_bucket_sise": 5e7}})",
       "zero_optimization.stage3_prefetch_bucket_sise (in c.json) = 50000000.0: unknown DeepSpeed key (did you mean "
       "'stage3_prefetch_bucket_size'?)"},
      {R"({"train_micro_batch_size": 4})", "train_micro_batch_size (in c.json) = 4: unknown DeepSpeed key"},
      {R"({"zero_optimization": {"overlap_comm": "yes"}})",
       "zero_optimization.overlap_comm (in c.json) = \"yes\": must be true or false"},
      {R"({"zero_optimization": [1]})", "zero_optimization (in c.json) = [1]: must be a JSON object"},
      {R"({"train_micro_batch_size_per_gpu": 0})", "train_micro_batch_size_per_gpu (in c.json) = 0"},
      {R"({"train_batch_size": -8})", "train_batch_size (in c.json) = -8"},
      {R"({"gradient_accumulation_steps": 1073741825})", "gradient_accumulation_steps (in c.json) = 1073741825"},
      {R"({"zero_optimization": {"reduce_bucket_size": 1e300}})", "zero_optimization.reduce_bucket_size (in c.json)"},
      {R"({"zero_optimization": {"reduce_bucket_size": 18446744073709551615}})",
       "zero_optimization.reduce_bucket_size (in c.json) = 18446744073709551615"},
      {R"({"fp16": {"enabled": true}, "bf16": {"enabled": true}})", "bf16.enabled (in c.json) = true"},
      {R"({"fp16": {"enabled": 1}})", "fp16.enabled (in c.json) = 1: must be true or false"},
      {R"({"bf16": {"bf16_master_weights_and_grads": true}})", "bf16.bf16_master_weights_and_grads (in c.json)"},
      {R"({"zero_optimization": {"offload_optimizer": {"device": "cpu", "ratio": 0.3}}})",
       "zero_optimization.offload_optimizer.ratio (in c.json) = 0.3: partial optimizer offload"},
      {R"({"zero_optimization": {"legacy_stage1": true}})", "zero_optimization.legacy_stage1 (in c.json) = true"},
      {R"({"zero_optimization": {"zero_hpz_partition_size": 8}})", "zero_optimization.zero_hpz_partition_size"},
      {R"({"data_types": {"grad_accum_dtype": "fp8"}})", "data_types.grad_accum_dtype (in c.json) = \"fp8\""},
      {R"({"optimizer": {"type": 3}})", "optimizer.type (in c.json) = 3"},
      {"[1, 2]", "deepspeed_config = c.json: must be a JSON object"},
      {"{\"zero_optimization\": {", "deepspeed_config = c.json: malformed JSON"},
      {R"({"train_batch_size": 1e400})", "deepspeed_config = c.json: malformed JSON"},
      {"", "deepspeed_config = c.json: malformed JSON"},
  };
  for (const auto& tc : cases) {
    try {
      deepspeed_config_from_json(tc.text, "c.json");
      ADD_FAILURE() << "no error for " << tc.text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(tc.expect), std::string::npos) << tc.text << "\n -> " << e.what();
    }
  }
}

// --- Through the real CLI -------------------------------------------------------------------------------

// `estimate --deepspeed-config X` equals `estimate` with the equivalent flags.
TEST(DeepSpeedConfigCli, EstimateEqualsTheEquivalentFlags) {
  const std::string path = temp_file("zero2_fp16.json", kZero2Fp16);
  const CliRun a =
      run({"estimate", "--model", "llama2-7b", "--dp", "4", "--deepspeed-config", path, "--format", "json"});
  ASSERT_EQ(a.code, 0) << a.err;
  // fp16 with the ZeRO optimizer keeps an fp32 gradient partition: mixed-20. 64 = 4 * 4 * dp 4.
  const std::vector<std::string> equivalent = {"--model",
                                               "llama2-7b",
                                               "--dp",
                                               "4",
                                               "--zero-stage",
                                               "2",
                                               "--recipe",
                                               "mixed-20",
                                               "--optimizer",
                                               "adamw",
                                               "--micro-batch-size",
                                               "4",
                                               "--global-batch-size",
                                               "64",
                                               "--reduce-bucket-size",
                                               "2e8",
                                               "--overlap-comm",
                                               "--contiguous-gradients",
                                               "--format",
                                               "json"};
  auto with = [&equivalent](const char* command) {
    std::vector<std::string> args = {command};
    args.insert(args.end(), equivalent.begin(), equivalent.end());
    return args;
  };
  const CliRun b = run(with("estimate"));
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.json()["ranks"], b.json()["ranks"]);
  EXPECT_EQ(a.json()["config"], b.json()["config"]);
  // simulate replays the buckets the ds_config sized: the same with the flags.
  const CliRun sa =
      run({"simulate", "--model", "llama2-7b", "--dp", "4", "--deepspeed-config", path, "--format", "json"});
  const CliRun sb = run(with("simulate"));
  ASSERT_EQ(sa.code, 0) << sa.err;
  ASSERT_EQ(sb.code, 0) << sb.err;
  EXPECT_EQ(sa.json(), sb.json());
  // One notice line listing what was not used.
  EXPECT_EQ(a.err.rfind("trainmem: notice: zero2_fp16.json: ", 0), 0U) << a.err;
  EXPECT_EQ(a.err.find('\n'), a.err.size() - 1) << a.err;
  for (const char* k : {"recipe mixed-20 (fp16.enabled, ZeRO stage 2)", "optimizer.params.lr", "steps_per_print",
                        "zero_optimization.reduce_scatter",
                        "not modelled (their GPU memory is not in the estimate): "
                        "zero_optimization.allgather_bucket_size"})
    EXPECT_NE(a.err.find(k), std::string::npos) << k << "\n" << a.err;
}

std::uint64_t bytes(const nlohmann::json& j, const char* category) {
  return j["ranks"][0]["bytes"][category].get<std::uint64_t>();
}

// The ZeRO-3 Offload tutorial's offload_optimizer/offload_param reach the offload model: the same JSON as the
// equivalent flags, and the optimizer states and master copy leave the GPU for host RAM.
TEST(DeepSpeedConfigCli, OffloadFromDsConfigEqualsTheFlags) {
  const std::string path = temp_file("zero3_offload.json", kZero3OffloadTutorial);
  const CliRun a = run({"estimate", "--model", "llama2-7b", "--dp", "8", "--deepspeed-config", path,
                        "--micro-batch-size", "1", "--format", "json"});
  ASSERT_EQ(a.code, 0) << a.err;
  const CliRun b = run({"estimate",
                        "--model",
                        "llama2-7b",
                        "--dp",
                        "8",
                        "--zero-stage",
                        "3",
                        "--recipe",
                        "fp32",
                        "--micro-batch-size",
                        "1",
                        "--contiguous-gradients",
                        "--stage3-max-live-parameters",
                        "1e9",
                        "--stage3-prefetch-bucket-size",
                        "1e7",
                        "--stage3-param-persistence-threshold",
                        "1e5",
                        "--reduce-bucket-size",
                        "1e7",
                        "--sub-group-size",
                        "1e9",
                        "--offload-optimizer",
                        "cpu",
                        "--offload-param",
                        "cpu",
                        "--format",
                        "json"});
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.json()["ranks"], b.json()["ranks"]);
  EXPECT_EQ(bytes(a.json(), "optimizer_states"), 0u);
  EXPECT_EQ(bytes(a.json(), "master_params"), 0u);
  EXPECT_GT(a.json()["per_node"]["host_bytes"].get<std::uint64_t>(), 0u);
}

// fp16 + ZeRO-1 at dp 64 on a bare 7.5B count. DeepSpeed's ZeRO optimizer: fp16 params 2 + fp16 grads 2, and
// sharded over dp: fp32 grad partition 4 + fp32 master 4 + Adam 8 = 16/64 (Megatron's table for fp16 with a
// distributed optimizer is the same 4 + 16/d). 7.5e9 / 64 = 117,187,500 exactly.
TEST(DeepSpeedConfigCli, Fp16Stage1IsTwentyBytesShardedAsZero1) {
  const std::string path =
      temp_file("fp16_z1.json", R"({"fp16": {"enabled": true}, "zero_optimization": {"stage": 1}})");
  const CliRun r =
      run({"estimate", "--num-parameters", "7.5e9", "--dp", "64", "--deepspeed-config", path, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  const std::uint64_t n = 7'500'000'000ULL, shard = 117'187'500ULL;
  EXPECT_EQ(bytes(j, "params"), 2 * n);
  EXPECT_EQ(bytes(j, "grads"), 2 * n + 4 * shard);
  EXPECT_EQ(bytes(j, "master_params"), 4 * shard);
  EXPECT_EQ(bytes(j, "optimizer_states"), 8 * shard);
  EXPECT_EQ(j["config"]["recipe"], "mixed-20");
}

// bf16 without ZeRO: DeepSpeed picks BF16_Optimizer (grad_accum_dtype defaults to fp32 without ZeRO), which
// keeps an unsharded fp32 gradient buffer and partitions the fp32 master and Adam states over dp
// (runtime/bf16_optimizer.py): 2 + 4 + 12/dp, i.e. mixed-18 sharded as ZeRO stage 1.
TEST(DeepSpeedConfigCli, Bf16Stage0RunsBf16OptimizerShardingLikeZero1) {
  const std::string path = temp_file("bf16_z0.json", R"({"bf16": {"enabled": true}, "train_batch_size": 64})");
  const CliRun r =
      run({"estimate", "--num-parameters", "7.5e9", "--dp", "64", "--deepspeed-config", path, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = r.json();
  const std::uint64_t n = 7'500'000'000ULL, shard = 117'187'500ULL;
  EXPECT_EQ(bytes(j, "params"), 2 * n);
  EXPECT_EQ(bytes(j, "grads"), 4 * n);
  EXPECT_EQ(bytes(j, "master_params"), 4 * shard);
  EXPECT_EQ(bytes(j, "optimizer_states"), 8 * shard);
  EXPECT_EQ(j["config"]["zero_stage"], 1);
  // train_batch_size alone: gradient_accumulation_steps 1 and micro = 64 / 64 (runtime/config.py).
  EXPECT_EQ(j["config"]["micro_batch_size"], 1);
  EXPECT_EQ(j["config"]["global_batch_size"], 64);
  EXPECT_NE(r.err.find("BF16_Optimizer"), std::string::npos) << r.err;
  // With ZeRO-2 the same precision runs the ZeRO optimizer: bf16 grads + fp32 grad partition = mixed-20.
  const std::string z2 = temp_file("bf16_z2.json", R"({"bf16": {"enabled": true}, "zero_optimization": {"stage": 2}})");
  const CliRun r2 =
      run({"estimate", "--num-parameters", "7.5e9", "--dp", "64", "--deepspeed-config", z2, "--format", "json"});
  ASSERT_EQ(r2.code, 0) << r2.err;
  EXPECT_EQ(r2.json()["config"]["recipe"], "mixed-20");
  // A flag wins: --zero-stage 3 re-derives the recipe at the final stage (still mixed-20).
  const CliRun r3 = run({"estimate", "--num-parameters", "7.5e9", "--dp", "64", "--deepspeed-config", path,
                         "--zero-stage", "3", "--format", "json"});
  ASSERT_EQ(r3.code, 0) << r3.err;
  EXPECT_EQ(r3.json()["config"]["recipe"], "mixed-20");
  EXPECT_EQ(r3.json()["config"]["zero_stage"], 3);
}

TEST(DeepSpeedConfigCli, BatchRule) {
  // train_batch_size = micro * gas * dp: 64 = 4 * 4 * 4 holds at dp 4 and fails at dp 8 (4 * 4 * 8 = 128).
  const std::string path = temp_file("batch.json", R"({"train_batch_size": 64, "train_micro_batch_size_per_gpu": 4,
                                                         "gradient_accumulation_steps": 4})");
  EXPECT_EQ(run({"estimate", "--model", "gpt2", "--dp", "4", "--deepspeed-config", path}).code, 0);
  const CliRun bad = run({"estimate", "--model", "gpt2", "--dp", "8", "--deepspeed-config", path});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("train_batch_size (in batch.json) = 64: is not micro_batch_size * gradient_accumulation_steps "
                         "* dp = 4 * 4 * 8 = 128"),
            std::string::npos)
      << bad.err;
  EXPECT_EQ(bad.err.find('\n'), bad.err.size() - 1) << bad.err;
  // gradient_accumulation_steps without train_batch_size: global = micro * gas * dp = 2 * 3 * 4 = 24.
  const std::string gas =
      temp_file("gas.json", R"({"train_micro_batch_size_per_gpu": 2, "gradient_accumulation_steps": 3})");
  const CliRun g = run({"estimate", "--model", "gpt2", "--dp", "4", "--deepspeed-config", gas, "--format", "json"});
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(g.json()["config"]["global_batch_size"], 24);
  EXPECT_EQ(g.json()["config"]["num_microbatches"], 3);
  // train_batch_size and gas: micro = 48 / (3 * 4) = 4.
  const std::string tg = temp_file("tg.json", R"({"train_batch_size": 48, "gradient_accumulation_steps": 3})");
  const CliRun t = run({"estimate", "--model", "gpt2", "--dp", "4", "--deepspeed-config", tg, "--format", "json"});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_EQ(t.json()["config"]["micro_batch_size"], 4);
  // At dp 5, 48 / (3 * 5) is not whole.
  const CliRun t5 = run({"estimate", "--model", "gpt2", "--dp", "5", "--deepspeed-config", tg});
  EXPECT_EQ(t5.code, 2);
  EXPECT_NE(
      t5.err.find("train_batch_size (in tg.json) = 48: is not divisible by gradient_accumulation_steps * dp = 3 * 5"),
      std::string::npos)
      << t5.err;
}

TEST(DeepSpeedConfigCli, HuggingFaceAutoNeedsFlagsAndFillsBucketsFromHiddenSize) {
  const std::string path = temp_file("hf_zero3.json", kHfZero3Auto);
  const CliRun r = run({"estimate", "--model", "llama2-7b", "--dp", "8", "--deepspeed-config", path});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("(in hf_zero3.json) = \"auto\": is filled in by the Hugging Face Trainer"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  // Given by flags, it builds; the hidden-size autos follow the Trainer: h = 4096 for Llama-2-7B, so
  // reduce_bucket_size = 4096^2 = 16,777,216; prefetch = int(0.9 * 16,777,216) = 15,099,494; persistence 40,960.
  Settings user;
  user["model"] = {"llama2-7b", "test"};
  user["data_parallel_size"] = {"8", "test"};
  user["deepspeed_config"] = {path, "test"};
  user["micro_batch_size"] = {"1", "test"};
  user["global_batch_size"] = {"8", "test"};
  user["recipe"] = {"mixed-20", "test"};
  std::ostringstream notices;
  const BuiltScenario b = build_scenario_with_inputs(user, notices);
  EXPECT_EQ(b.scenario.zero_runtime.reduce_bucket_size, 16'777'216ULL);
  EXPECT_EQ(b.scenario.zero_runtime.stage3_prefetch_bucket_size, 15'099'494ULL);
  EXPECT_EQ(b.scenario.zero_runtime.stage3_param_persistence_threshold, 40'960ULL);
  EXPECT_EQ(b.scenario.zero_runtime.stage3_max_live_parameters, 1'000'000'000ULL);
  EXPECT_EQ(b.scenario.parallel.zero_stage, 3);
  EXPECT_EQ(b.scenario.training.optimizer, "adamw");
  // A bare parameter count has no hidden size for the autos.
  user.erase("model");
  user["num_parameters"] = {"7B", "test"};
  try {
    build_scenario_with_inputs(user, notices);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(
        std::string(e.what()).find("zero_optimization.reduce_bucket_size (in hf_zero3.json) = \"auto\": needs the "
                                   "model's hidden size"),
        std::string::npos)
        << e.what();
  }
}

TEST(DeepSpeedConfigCli, PrecedenceFlagsOverYamlOverDsConfig) {
  const std::string ds = temp_file("prec.json", R"({"zero_optimization": {"stage": 3, "reduce_bucket_size": 1e6},
                                                      "train_micro_batch_size_per_gpu": 2})");
  // The YAML names the ds_config relative to its own folder and overrides its stage.
  const std::string yaml =
      temp_file("prec.yaml", "model: gpt2\ndata_parallel_size: 4\ndeepspeed_config: prec.json\nzero_stage: 2\n");
  const CliRun y = run({"estimate", yaml, "--format", "json"});
  ASSERT_EQ(y.code, 0) << y.err;
  EXPECT_EQ(y.json()["config"]["zero_stage"], 2);
  EXPECT_EQ(y.json()["config"]["micro_batch_size"], 2);
  const CliRun f = run({"estimate", yaml, "--zero-stage", "1", "--micro-batch-size", "3", "--format", "json"});
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_EQ(f.json()["config"]["zero_stage"], 1);
  EXPECT_EQ(f.json()["config"]["micro_batch_size"], 3);
  (void)ds;
}

TEST(DeepSpeedConfigCli, FileErrors) {
  const CliRun missing = run({"estimate", "--model", "gpt2", "--deepspeed-config", "/nonexistent/ds.json"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("deepspeed_config = /nonexistent/ds.json: file not found"), std::string::npos)
      << missing.err;
  const CliRun dev = run({"estimate", "--model", "gpt2", "--deepspeed-config", "/dev/zero"});
  EXPECT_EQ(dev.code, 2);
  EXPECT_NE(dev.err.find("deepspeed_config = /dev/zero: is a character device"), std::string::npos) << dev.err;
  const std::string unknown = temp_file("unknown.json", R"({"zero_optimization": {"stage": 2, "stage4": true}})");
  const CliRun u = run({"estimate", "--model", "gpt2", "--deepspeed-config", unknown});
  EXPECT_EQ(u.code, 2);
  EXPECT_NE(u.err.find("zero_optimization.stage4 (in unknown.json) = true: unknown DeepSpeed key"), std::string::npos)
      << u.err;
  EXPECT_EQ(u.err.find('\n'), u.err.size() - 1) << u.err;
  // ZeRO-3 from the file with pp 2 from a flag: the library's own rule, named by the canonical key.
  const std::string z3 = temp_file("z3.json", R"({"zero_optimization": {"stage": 3}})");
  const CliRun pp = run({"estimate", "--model", "llama2-7b", "--pp", "2", "--deepspeed-config", z3});
  EXPECT_EQ(pp.code, 2);
  EXPECT_NE(pp.err.find("zero_stage = 3"), std::string::npos) << pp.err;
}

}  // namespace
}  // namespace trainmem::tools::test
