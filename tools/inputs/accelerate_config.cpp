// The accelerate config reader (accelerate_config.hpp).
#include "tools/inputs/accelerate_config.hpp"

#include <algorithm>
#include <filesystem>
#include <string_view>

#include "partition/error.hpp"
#include "tools/inputs/input_file.hpp"
#include "tools/inputs/structured_file.hpp"

namespace trainmem::tools {
namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;
using trainer::field;
using trainer::set;

// Launcher, cluster and cloud fields with no effect on a rank's GPU memory (config_args.py).
constexpr std::string_view kIgnored[] = {"compute_environment",
                                         "debug",
                                         "machine_rank",
                                         "gpu_ids",
                                         "main_process_ip",
                                         "main_process_port",
                                         "rdzv_backend",
                                         "same_network",
                                         "main_training_function",
                                         "enable_cpu_affinity",
                                         "downcast_bf16",
                                         "tpu_name",
                                         "tpu_zone",
                                         "tpu_use_cluster",
                                         "tpu_use_sudo",
                                         "command_file",
                                         "commands",
                                         "tpu_vm",
                                         "tpu_env",
                                         "ec2_instance_type",
                                         "iam_role_name",
                                         "image_uri",
                                         "profile",
                                         "region",
                                         "base_job_name",
                                         "pytorch_version",
                                         "transformers_version",
                                         "py_version",
                                         "sagemaker_inputs_file",
                                         "sagemaker_metrics_file",
                                         "additional_args",
                                         "mpirun_config",
                                         "ipex_config"};
constexpr std::string_view kRead[] = {"distributed_type", "mixed_precision",    "use_cpu",      "num_processes",
                                      "num_machines",     "deepspeed_config",   "fsdp_config",  "megatron_lm_config",
                                      "fp8_config",       "parallelism_config", "dynamo_config"};
// DeepSpeedPlugin fields of an inline deepspeed_config (accelerate/utils/dataclasses.py).
constexpr std::string_view kDsIgnored[] = {"gradient_clipping",         "zero3_init_flag",
                                           "zero3_save_16bit_model",    "offload_optimizer_nvme_path",
                                           "offload_param_nvme_path",   "deepspeed_multinode_launcher",
                                           "deepspeed_hostfile",        "deepspeed_exclusion_filter",
                                           "deepspeed_inclusion_filter"};

bool empty_section(const json& v) { return v.is_null() || (v.is_object() && v.empty()); }

std::string text_of(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::int64_t whole(const TrainerInputs& in, const std::string& path, const json& v, std::int64_t hi) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > hi)
    throw ConfigError(field(in, path), v.dump(), "must be a whole number between 1 and " + std::to_string(hi));
  return v.get<std::int64_t>();
}
}  // namespace

TrainerInputs accelerate_config_from_json(const json& cfg, const std::string& origin, const std::string& dir,
                                          const Settings& user, const TrainerValues* trainer) {
  TrainerInputs in;
  in.origin = fs::path(origin).filename().string();
  auto fail = [&](const std::string& path, const json& v, const std::string& why) {
    throw ConfigError(field(in, path), v.dump(), why);
  };
  for (auto it = cfg.begin(); it != cfg.end(); ++it) {
    const std::string& k = it.key();
    if (std::find(std::begin(kRead), std::end(kRead), k) != std::end(kRead)) continue;
    if (std::find(std::begin(kIgnored), std::end(kIgnored), k) != std::end(kIgnored)) {
      in.ignored.push_back(k);
      continue;
    }
    fail(k, it.value(), "unknown accelerate config key; docs/ecosystem-inputs.md lists the keys trainmem reads");
  }
  const std::string dist = cfg.contains("distributed_type") ? text_of(cfg["distributed_type"]) : "NO";
  if (dist != "NO" && dist != "MULTI_GPU" && dist != "DEEPSPEED" && dist != "FSDP")
    fail("distributed_type", cfg.value("distributed_type", json()),
         "is not modelled (trainmem reads NO, MULTI_GPU, DEEPSPEED, FSDP)");
  if (cfg.contains("use_cpu") && trainer::boolean(in, "use_cpu", cfg["use_cpu"]))
    fail("use_cpu", cfg["use_cpu"], "trains on the CPU, not a GPU");
  for (const char* k : {"megatron_lm_config", "parallelism_config"})
    if (cfg.contains(k) && !empty_section(cfg[k]))
      fail(k, cfg[k], "is not modelled; give the layout flags (--tp, --pp, ...) or --megatron-args");
  if (cfg.contains("dynamo_config") && cfg["dynamo_config"].is_object() &&
      cfg["dynamo_config"].contains("dynamo_backend") && cfg["dynamo_config"]["dynamo_backend"] != "NO")
    in.not_modelled.emplace_back("dynamo_config (torch.compile)");
  else if (cfg.contains("dynamo_config"))
    in.ignored.emplace_back("dynamo_config");

  // World size: num_processes is the total over machines; num_machines gives the GPUs per node.
  const std::int64_t procs =
      cfg.contains("num_processes") ? whole(in, "num_processes", cfg["num_processes"], 1 << 24) : 1;
  const std::int64_t machines =
      cfg.contains("num_machines") ? whole(in, "num_machines", cfg["num_machines"], 1 << 24) : 1;
  if (procs % machines != 0)
    fail("num_processes", cfg.contains("num_processes") ? cfg["num_processes"] : json(1),
         "is not divisible by num_machines " + std::to_string(machines));
  if (dist == "NO" && procs > 1) fail("num_processes", cfg["num_processes"], "is more than 1 with distributed_type NO");
  set(in, "world_size", std::to_string(procs), "num_processes");
  if (machines > 1) set(in, "gpus_per_node", std::to_string(procs / machines), "num_processes / num_machines");
  in.node_gpus = procs / machines;  // HYBRID_SHARD's shard group (apply_hybrid_shard)

  // mixed_precision: no / fp16 / bf16 (PyYAML reads a bare `no` as false); --bf16 / --fp16 replace it.
  std::string mp = "no";
  if (cfg.contains("mixed_precision")) {
    const json& v = cfg["mixed_precision"];
    mp = v.is_boolean() && !v.get<bool>() ? "no" : text_of(v);
    if (mp == "fp8") fail("mixed_precision", v, "FP8 training is not modelled");
    if (mp != "no" && mp != "fp16" && mp != "bf16") fail("mixed_precision", v, "must be one of no, fp16, bf16");
  }
  if (cfg.contains("fp8_config") && !empty_section(cfg["fp8_config"]))
    in.ignored.emplace_back("fp8_config (mixed_precision is not fp8)");
  std::string mp_origin = in.origin + ": mixed_precision";
  for (const char* flag : {"fp16", "bf16"})
    if (const auto u = user.find(flag); u != user.end()) {
      if (u->second.text == "true" || u->second.text == "1")
        mp = flag, mp_origin = u->second.origin;
      else if (mp == flag)
        mp = "no", mp_origin = u->second.origin;
    }
  in.values.fp16 = TrainerValue{mp == "fp16" ? "true" : "false", mp_origin};
  in.values.bf16 = TrainerValue{mp == "bf16" ? "true" : "false", mp_origin};

  const json ds =
      cfg.contains("deepspeed_config") && !cfg["deepspeed_config"].is_null() ? cfg["deepspeed_config"] : json::object();
  const json fsdp = cfg.contains("fsdp_config") && !cfg["fsdp_config"].is_null() ? cfg["fsdp_config"] : json::object();
  if (dist != "DEEPSPEED" && !empty_section(ds))
    in.ignored.push_back("deepspeed_config (distributed_type " + dist + ")");
  if (dist != "FSDP" && !empty_section(fsdp)) in.ignored.push_back("fsdp_config (distributed_type " + dist + ")");

  if (dist == "DEEPSPEED") {
    if (!ds.is_object()) fail("deepspeed_config", ds, "must be a mapping");
    TrainerValues values = in.values;
    if (trainer != nullptr) values.micro_batch_size = trainer->micro_batch_size;
    if (ds.contains("gradient_accumulation_steps") && !ds.contains("deepspeed_config_file")) {
      const std::int64_t g =
          whole(in, "deepspeed_config.gradient_accumulation_steps", ds["gradient_accumulation_steps"], 1 << 30);
      values.gradient_accumulation_steps =
          TrainerValue{std::to_string(g), in.origin + ": deepspeed_config.gradient_accumulation_steps"};
      in.values.gradient_accumulation_steps = values.gradient_accumulation_steps;
    }
    if (trainer != nullptr && trainer->gradient_accumulation_steps && !ds.contains("gradient_accumulation_steps"))
      values.gradient_accumulation_steps = trainer->gradient_accumulation_steps;
    if (ds.contains("deepspeed_config_file")) {
      // The file holds the whole DeepSpeed config; accelerate refuses the inline fields beside it.
      for (auto it = ds.begin(); it != ds.end(); ++it)
        if (it.key() != "deepspeed_config_file" && it.key() != "zero3_init_flag" &&
            it.key() != "deepspeed_multinode_launcher" && it.key() != "deepspeed_hostfile")
          fail("deepspeed_config." + it.key(), it.value(),
               "is given beside deepspeed_config_file (accelerate refuses "
               "it; put it in the file)");
      const std::string f = text_of(ds["deepspeed_config_file"]);
      const fs::path p = fs::path(f).is_relative() ? fs::path(dir) / f : fs::path(f);
      const std::string path = p.lexically_normal().string();
      in.deepspeed = deepspeed_config_filled(
          parse_structured_text("deepspeed_config", path,
                                read_input_file("deepspeed_config", path, "a ds_config JSON file")),
          path, values);
    } else {
      // DeepSpeedPlugin's config (utils/dataclasses.py): zero_stage default 2, offload devices default none.
      std::string stage = "2", opt = "none", par = "none";
      for (auto it = ds.begin(); it != ds.end(); ++it) {
        const std::string& k = it.key();
        const std::string path = "deepspeed_config." + k;
        if (k == "zero_stage") {
          const std::string t = text_of(it.value());
          if (t != "0" && t != "1" && t != "2" && t != "3") fail(path, it.value(), "must be 0, 1, 2 or 3");
          stage = t;
        } else if (k == "offload_optimizer_device" || k == "offload_param_device") {
          const std::string t = text_of(it.value());
          if (t != "none" && t != "cpu" && t != "nvme") fail(path, it.value(), "must be one of none, cpu, nvme");
          (k == "offload_optimizer_device" ? opt : par) = t;
        } else if (k == "gradient_accumulation_steps") {
        } else if (std::find(std::begin(kDsIgnored), std::end(kDsIgnored), k) != std::end(kDsIgnored)) {
          in.ignored.push_back(path);
        } else if (k == "deepspeed_moe_layer_cls_names") {
          in.not_modelled.push_back(path);
        } else {
          fail(path, it.value(), "unknown accelerate deepspeed_config key");
        }
      }
      json tree = {{"train_batch_size", "auto"},
                   {"train_micro_batch_size_per_gpu", "auto"},
                   {"zero_optimization",
                    {{"stage", std::stoi(stage)},
                     {"offload_optimizer", {{"device", opt}}},
                     {"offload_param", {{"device", par}}}}},
                   {"fp16", {{"enabled", mp == "fp16"}}},
                   {"bf16", {{"enabled", mp == "bf16"}}}};
      tree["gradient_accumulation_steps"] =
          values.gradient_accumulation_steps ? std::stoll(values.gradient_accumulation_steps->text) : 1;
      in.deepspeed = deepspeed_config_filled(tree, in.origin + " deepspeed_config", values);
    }
    in.deepspeed_source = in.origin + ": deepspeed_config";
    in.derived.emplace_back("distributed_type DEEPSPEED: DeepSpeed's ZeRO accounting (framework megatron)");
    return in;
  }
  set(in, "framework", "hf", "distributed_type " + dist);
  bool fsdp_on = dist == "FSDP", ckpt = false;
  if (fsdp_on) {
    if (!fsdp.is_object()) fail("fsdp_config", fsdp, "must be a mapping");
    json c = json::object();
    for (auto it = fsdp.begin(); it != fsdp.end(); ++it)
      c[it.key().rfind("fsdp_", 0) == 0 ? it.key().substr(5) : it.key()] = it.value();
    ckpt = trainer::fsdp_config(in, c, 1, {}, "fsdp_config.fsdp_");  // accelerate's default fsdp_version is 1
  } else {
    set(in, "zero_stage", "0", "distributed_type " + dist);
  }
  if (ckpt) set(in, "recompute_granularity", "full", "fsdp_config.fsdp_activation_checkpointing");
  trainer::precision_recipe(in, mp == "fp16", mp == "bf16", fsdp_on, "mixed_precision", nlohmann::json(mp).dump());
  return in;
}

TrainerInputs load_accelerate_config(const std::string& path, const Settings& user, const TrainerValues* trainer) {
  const json cfg = load_structured_file("accelerate_config", path);
  return accelerate_config_from_json(cfg, path, fs::path(path).parent_path().string(), user, trainer);
}

}  // namespace trainmem::tools
