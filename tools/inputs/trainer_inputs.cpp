// The rules the TrainingArguments and accelerate readers share (trainer_inputs.hpp): the Trainer's ds_config
// "auto" fill, the FSDP strategy and precision mapping, gradient accumulation, and the Hugging Face flag names.
#include "tools/inputs/trainer_inputs.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string_view>

#include "partition/error.hpp"
#include "sim/accounting/scenario.hpp"
#include "tools/inputs/accelerate_config.hpp"
#include "tools/inputs/hf_training_args.hpp"
#include "tools/inputs/torch_dtype.hpp"
#include "tools/inputs/value_parse.hpp"

namespace trainmem::tools {
namespace trainer {

std::string field(const TrainerInputs& in, const std::string& path) { return path + " (in " + in.origin + ")"; }

void set(TrainerInputs& in, const std::string& key, const std::string& text, const std::string& path) {
  in.settings[key] = SettingValue{text, in.origin + ": " + path};
}

void fsdp_strategy(TrainerInputs& in, const std::string& strategy, const std::string& path) {
  // docs/frameworks.md: FSDP2 fully_shard per decoder layer; reshard_after_forward True = full shard (ZeRO-3-like),
  // False = shard grad op (ZeRO-2-like: parameters stay gathered from forward to backward).
  std::string stage;
  // accelerate's numbered FSDP1 strategies are 1-5; HYBRID_SHARD is FULL_SHARD within the shard group and
  // HYBRID_SHARD_ZERO2 SHARD_GRAD_OP within it, each replicated across groups.
  if (strategy == "full_shard" || strategy == "1" || strategy == "hybrid_shard" || strategy == "4")
    stage = "3";
  else if (strategy == "shard_grad_op" || strategy == "2" || strategy == "hybrid_shard_zero2" || strategy == "5")
    stage = "2";
  else if (strategy == "no_shard" || strategy == "3")
    stage = "0";
  else
    throw ConfigError(field(in, path), strategy,
                      "must be one of FULL_SHARD, SHARD_GRAD_OP, NO_SHARD, HYBRID_SHARD, HYBRID_SHARD_ZERO2");
  set(in, "framework", "hf", path);
  set(in, "zero_stage", stage, path);
  const bool hybrid = strategy.starts_with("hybrid") || strategy == "4" || strategy == "5";
  if (hybrid) in.hybrid_shard = field(in, path) + " = " + strategy;
  in.derived.push_back("zero_stage " + stage + " (FSDP " + strategy +
                       (stage == "3"   ? ": fully_shard, reshard_after_forward=True"
                        : stage == "2" ? ": fully_shard, reshard_after_forward=False"
                                       : ": no sharding, modelled as DDP") +
                       (hybrid ? ", within the shard group)" : ")"));
}

void precision_recipe(TrainerInputs& in, bool fp16, bool bf16, bool fsdp, const std::string& path,
                      const std::string& value) {
  const std::string& policy = in.fsdp_param_dtype;
  if (fsdp && (policy == "bf16" || policy == "fp16")) {
    // An explicit 16-bit policy: FSDP casts the all-gathers whatever mixed_precision says.
    set(in, "recipe", "fsdp-mp", in.fsdp_policy_field);
    in.derived.push_back("recipe fsdp-mp (" + in.fsdp_policy_field + " param_dtype " + policy +
                         ": fp32 shards, gradients and optimizer states, " + policy +
                         " all-gathers and compute; a model loaded in 16 bits is --recipe bf16)");
    return;
  }
  if (!fp16 && !bf16) {
    set(in, "recipe", "fp32", "(neither fp16 nor bf16)");
    return;
  }
  if (fsdp && policy.empty()) {
    // accelerate's FullyShardedDataParallelPlugin.set_mixed_precision: MixedPrecision(param_dtype=reduce_dtype=the
    // 16-bit dtype) over the parameters from_pretrained loads (fp32 by default). The shards stay fp32.
    set(in, "recipe", "fsdp-mp", path);
    in.derived.push_back("recipe fsdp-mp (" + path + " " + value + " with FSDP: mixed-precision policy param_dtype " +
                         (bf16 ? "bf16" : "fp16") +
                         " over fp32 parameters, as from_pretrained loads them by default: fp32 shards, gradients "
                         "and optimizer states, 16-bit all-gathers and compute; a model loaded in bfloat16 is "
                         "--recipe bf16)");
    return;
  }
  set(in, "recipe", "amp", path);
  in.derived.push_back("recipe amp (" + path +
                       (fsdp ? " with an fp32 FSDP mixed-precision policy: torch.autocast over fp32 shards"
                             : ": torch.autocast over fp32 parameters, as from_pretrained loads them by default") +
                       "; a model loaded in bfloat16 is --recipe bf16)");
}

namespace {
using json = nlohmann::json;
bool off(const json& v) {
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_string() && v.get<std::string>().empty());
}
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}
// A dtype as FSDP's policies and accelerate spell it: "bf16" / "bfloat16" / "torch.bfloat16", fp16 / float16 /
// half, fp32 / float32 / float / "no" / null; "" when it is none of them.
std::string policy_dtype(const json& v) {
  if (v.is_null()) return "fp32";
  if (!v.is_string()) return "";
  std::string t = lower(v.get<std::string>());
  if (t.starts_with("torch.")) t = t.substr(6);
  if (t == "no") return "fp32";  // accelerate's mixed_precision "no"
  const std::optional<Dtype> d = t.starts_with("torch.") ? std::nullopt : torch_dtype_named(t);  // the bare names
  return d ? std::string(dtype_name(*d)) : "";
}

// fsdp_config.mixed_precision_policy: a dtype ("bf16") or FSDP1 MixedPrecision / FSDP2 MixedPrecisionPolicy fields.
// Only param_dtype changes the memory trainmem models (the all-gathers and the compute); reduce_dtype,
// buffer_dtype, output_dtype and cast_forward_inputs act on transient reduction buffers, buffers and outputs.
void mixed_precision_policy(TrainerInputs& in, const std::string& path, const json& v) {
  auto dtype = [&](const std::string& p, const json& x) {
    std::string d = policy_dtype(x);
    if (d.empty())
      throw ConfigError(field(in, p), x.dump(), "must be a dtype: bf16 / bfloat16, fp16 / float16, fp32 / float32");
    return d;
  };
  in.fsdp_policy_field = field(in, path);
  if (!v.is_object()) {
    in.fsdp_param_dtype = dtype(path, v);
    return;
  }
  in.fsdp_param_dtype = "fp32";  // param_dtype None: the unsharded parameters keep the original dtype
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string p = path + "." + it.key();
    if (it.key() == "param_dtype") {
      in.fsdp_param_dtype = dtype(p, it.value());
    } else if (it.key() == "reduce_dtype" || it.key() == "buffer_dtype" || it.key() == "output_dtype") {
      dtype(p, it.value());
      in.not_modelled.push_back(p + " (transient reduce-scatter / buffer / output dtype)");
    } else if (it.key() == "cast_forward_inputs" || it.key() == "cast_root_forward_inputs" ||
               it.key() == "keep_low_precision_grads") {
      if (it.key() == "keep_low_precision_grads" && boolean(in, p, it.value()))
        throw ConfigError(field(in, p), it.value().dump(), "keeps 16-bit sharded gradients; not modelled");
      in.ignored.push_back(p);
    } else {
      throw ConfigError(field(in, p), it.value().dump(),
                        "unknown mixed-precision policy field (param_dtype, reduce_dtype, buffer_dtype, output_dtype, "
                        "cast_forward_inputs)");
    }
  }
}
}  // namespace

bool boolean(const TrainerInputs& in, const std::string& path, const nlohmann::json& v) {
  if (v.is_null()) return false;
  if (v.is_string() && (lower(v.get<std::string>()) == "true" || lower(v.get<std::string>()) == "false"))
    return lower(v.get<std::string>()) == "true";  // str_to_bool: both tools accept "true" / "false" text
  if (!v.is_boolean()) throw ConfigError(field(in, path), v.dump(), "must be true or false");
  return v.get<bool>();
}

bool fsdp_config(TrainerInputs& in, const nlohmann::json& c, int default_version,
                 const std::vector<std::string>& legacy_items, const std::string& prefix) {
  auto fail = [&](const std::string& k, const json& v, const std::string& why) {
    throw ConfigError(field(in, prefix + k), v.dump(), why);
  };
  int version = default_version;
  if (c.contains("version")) {
    const json& v = c["version"];
    const std::string t = v.is_string() ? v.get<std::string>() : v.dump();
    if (t != "1" && t != "2") fail("version", v, "must be 1 or 2");
    version = t == "1" ? 1 : 2;
  }
  std::string strategy = "full_shard";  // the default of both versions
  std::string strategy_path = prefix + "reshard_after_forward";
  // Legacy TrainingArguments items (training_args.py _apply_legacy_fsdp_to_config).
  for (const auto& item : legacy_items) {
    if (item == "full_shard" || item == "shard_grad_op" || item == "no_shard" || item == "hybrid_shard" ||
        item == "hybrid_shard_zero2") {
      if (version == 2 && item != "full_shard" && item != "shard_grad_op")
        throw ConfigError(field(in, "fsdp"), json(item).dump(),
                          "is only available with FSDP1 (transformers raises); set fsdp_config.version 1");
      strategy = item;
      strategy_path = "fsdp";
    } else if (item == "offload") {
      throw ConfigError(field(in, "fsdp"), json(item).dump(), "FSDP CPU offload is not modelled");
    } else if (item != "auto_wrap") {
      throw ConfigError(field(in, "fsdp"), json(item).dump(),
                        "unknown FSDP option (full_shard, shard_grad_op, no_shard, hybrid_shard, hybrid_shard_zero2, "
                        "offload, auto_wrap)");
    }
  }
  bool ckpt = false;
  for (auto it = c.begin(); it != c.end(); ++it) {
    const std::string& k = it.key();
    const std::string path = prefix + k;
    const json& v = it.value();
    if (k == "version") {
      if (version == 1)
        in.derived.emplace_back(
            "FSDP version 1 modelled with FSDP2's per-parameter shards (FSDP1's flat parameters pad "
            "each wrapped unit once instead of each tensor)");
    } else if (k == "reshard_after_forward" || k == "sharding_strategy") {
      strategy_path = path;
      if (v.is_boolean())
        strategy = v.get<bool>() ? "full_shard" : "shard_grad_op";
      else if (v.is_string() || v.is_number_integer())
        strategy = lower(v.is_string() ? v.get<std::string>() : v.dump());
      else
        fail(k, v, "must be true/false (FSDP2) or a sharding strategy (FSDP1)");
      if (strategy == "true" || strategy == "false") strategy = strategy == "true" ? "full_shard" : "shard_grad_op";
    } else if (k == "cpu_offload" || k == "offload_params") {
      if (boolean(in, path, v))
        fail(k, v, "FSDP CPU offload is not modelled (the hf profile keeps every state on the GPU)");
      in.ignored.push_back(path);
    } else if (k == "mixed_precision_policy") {
      mixed_precision_policy(in, path, v);
    } else if (k == "activation_checkpointing") {
      ckpt = boolean(in, path, v);
    } else if (k == "xla" || k == "xla_fsdp_grad_ckpt" || k == "activation_cpu_offload") {
      if (boolean(in, path, v)) fail(k, v, "is not modelled");
      in.ignored.push_back(path);
    } else if (k == "auto_wrap_policy") {
      if (v == "NO_WRAP" || v == "SIZE_BASED_WRAP")
        in.not_modelled.push_back(path + " (trainmem wraps each decoder layer: TRANSFORMER_BASED_WRAP)");
      else
        in.ignored.push_back(path);
    } else if (k == "backward_prefetch" || k == "forward_prefetch") {
      if (off(v) || v == "NO_PREFETCH")
        in.ignored.push_back(path);
      else
        in.not_modelled.push_back(path);
    } else if (k == "cpu_ram_efficient_loading" || k == "state_dict_type" || k == "transformer_layer_cls_to_wrap" ||
               k == "min_num_params" || k == "sync_module_states" || k == "use_orig_params" ||
               k == "limit_all_gathers" || k == "xla_fsdp_settings") {
      in.ignored.push_back(path);
    } else {
      fail(k, v, "unknown FSDP key; docs/ecosystem-inputs.md lists the keys trainmem reads");
    }
  }
  fsdp_strategy(in, strategy, strategy_path);
  return ckpt;
}

}  // namespace trainer

DeepSpeedConfig deepspeed_config_filled(nlohmann::json ds, const std::string& origin, const TrainerValues& v) {
  const std::string name = std::filesystem::path(origin).filename().string();
  auto fill = [&](nlohmann::json& parent, const char* key, const std::string& path,
                  const std::optional<TrainerValue>& tv, bool is_bool) {
    if (!tv || !parent.is_object() || !parent.contains(key)) return;  // fill_match only fills keys that exist
    nlohmann::json& x = parent[key];
    const nlohmann::json want = is_bool ? nlohmann::json(tv->text == "true") : nlohmann::json(std::stoll(tv->text));
    if (x.is_string() && x.get<std::string>() == "auto") {
      x = want;
      return;
    }
    const bool same = is_bool ? x == want : (x.is_number() && x.get<double>() == want.get<double>());
    if (!same)
      throw ConfigError(path + " (in " + name + ")", x.dump(),
                        "differs from " + tv->origin + " = " + tv->text +
                            " (the Trainer refuses ds_config values that mismatch its arguments)");
  };
  if (!ds.is_object()) throw ConfigError("deepspeed_config", origin, "must be a JSON object");
  fill(ds, "train_micro_batch_size_per_gpu", "train_micro_batch_size_per_gpu", v.micro_batch_size, false);
  fill(ds, "gradient_accumulation_steps", "gradient_accumulation_steps", v.gradient_accumulation_steps, false);
  // train_batch_size "auto" = world_size * micro * gas: left to DeepSpeed's batch rule, which derives the same.
  if (ds.contains("train_batch_size") && ds["train_batch_size"] == "auto") ds.erase("train_batch_size");
  if (ds.contains("fp16")) fill(ds["fp16"], "enabled", "fp16.enabled", v.fp16, true);
  if (ds.contains("bf16")) fill(ds["bf16"], "enabled", "bf16.enabled", v.bf16, true);
  return deepspeed_config_from_json(ds.dump(), origin);
}

namespace {
// b over a, checking that every key both give agrees.
void merge_into(TrainerInputs& a, TrainerInputs b) {
  for (const auto& [k, v] : b.settings) {
    const auto it = a.settings.find(k);
    if (it != a.settings.end() && it->second.text != v.text)
      throw ConfigError(k, it->second.text + " / " + v.text,
                        "given with different values by " + it->second.origin + " and " + v.origin);
    a.settings[k] = v;
  }
  auto value = [](std::optional<TrainerValue>& x, const std::optional<TrainerValue>& y, const char* what) {
    if (x && y && x->text != y->text)
      throw ConfigError(what, x->text + " / " + y->text,
                        "given with different values by " + x->origin + " and " + y->origin);
    if (!x) x = y;
  };
  value(a.values.micro_batch_size, b.values.micro_batch_size, "micro_batch_size");
  value(a.values.gradient_accumulation_steps, b.values.gradient_accumulation_steps, "gradient_accumulation_steps");
  value(a.values.fp16, b.values.fp16, "fp16");
  value(a.values.bf16, b.values.bf16, "bf16");
  if (a.deepspeed && b.deepspeed)
    throw ConfigError("deepspeed_config", a.deepspeed_source + " / " + b.deepspeed_source,
                      "two ds_configs given; name one");
  if (b.deepspeed) a.deepspeed = std::move(b.deepspeed), a.deepspeed_source = b.deepspeed_source;
  if (!b.hybrid_shard.empty()) a.hybrid_shard = b.hybrid_shard;
  if (b.node_gpus != 0) a.node_gpus = b.node_gpus;
  for (auto& u : b.unresolved) a.unresolved.push_back(std::move(u));
  a.derived.insert(a.derived.end(), b.derived.begin(), b.derived.end());
  a.ignored.insert(a.ignored.end(), b.ignored.begin(), b.ignored.end());
  a.not_modelled.insert(a.not_modelled.end(), b.not_modelled.begin(), b.not_modelled.end());
}
}  // namespace

std::optional<TrainerInputs> load_trainer_inputs(const Settings& user) {
  const auto hf = user.find("hf_training_args");
  const auto acc = user.find("accelerate_config");
  std::optional<TrainerInputs> out;
  if (hf != user.end()) out = load_hf_training_args(hf->second.text, user);
  if (acc != user.end()) {
    TrainerInputs a = load_accelerate_config(acc->second.text, user, out ? &out->values : nullptr);
    if (out) {
      // The launcher decides DeepSpeed or FSDP; the Trainer's own recipe (autocast DDP) then does not apply, and
      // accelerate's precision rule (the same fp16 / bf16 values, checked below) replaces it.
      if (a.deepspeed || a.settings.count("zero_stage") != 0) {
        for (const char* k : {"recipe", "optimizer_impl", "framework"})
          if (a.deepspeed || std::string_view(k) == "recipe") out->settings.erase(k);
        std::erase_if(out->derived, [](const std::string& d) { return d.rfind("recipe amp", 0) == 0; });
      }
      const std::string origin = out->origin + " + " + a.origin;
      merge_into(*out, std::move(a));
      out->origin = origin;
    } else {
      out = std::move(a);
    }
  }
  return out;
}

Settings apply_hf_flag_names(Settings user) {
  const auto flag = [&](const char* key) -> std::optional<bool> {
    const auto it = user.find(key);
    if (it == user.end()) return std::nullopt;
    return parse_bool(key, it->second.text);
  };
  auto conflict = [&](const char* key, const std::string& want, const char* by) {
    const auto it = user.find(key);
    throw ConfigError(key, it->second.text + " / " + want,
                      "given twice with different values (" + it->second.origin + " and " + user.at(by).origin + ")");
  };
  if (const auto gc = flag("gradient_checkpointing")) {
    const auto rg = user.find("recompute_granularity");
    if (rg == user.end()) {
      if (*gc) user["recompute_granularity"] = SettingValue{"full", user.at("gradient_checkpointing").origin};
    } else if (*gc != (rg->second.text == "full")) {
      conflict("recompute_granularity", *gc ? "full" : "none", "gradient_checkpointing");
    }
  }
  const auto fp16 = flag("fp16"), bf16 = flag("bf16");
  if (fp16.value_or(false) && bf16.value_or(false))
    throw ConfigError("bf16", "true", "--fp16 is also given; the Trainer enables one of them");
  const bool files = user.count("hf_training_args") || user.count("accelerate_config");
  if (!files && (fp16.value_or(false) || bf16.value_or(false))) {
    const char* by = bf16.value_or(false) ? "bf16" : "fp16";
    const auto r = user.find("recipe");
    if (user.count("deepspeed_config"))
      throw ConfigError(by, "true",
                        "with --deepspeed-config the precision is the ds_config's (fp16.enabled / bf16.enabled); "
                        "set it there, or give the TrainingArguments with --hf-training-args");
    if (r == user.end())
      user["recipe"] = SettingValue{"amp", user.at(by).origin};
    else if (r->second.text == "fp32")
      conflict("recipe", "amp", by);
  }
  return user;
}

std::string apply_gradient_accumulation(Settings& merged, const Settings& user, const BuiltScenario& built) {
  const auto it = merged.find("gradient_accumulation_steps");
  if (it == merged.end()) return "";
  constexpr std::int64_t kMaxBatch = std::int64_t{1} << 30;
  const std::int64_t gas = parse_int("gradient_accumulation_steps", it->second.text, 1, kMaxBatch);
  const sim::ResolvedScenario r = sim::resolve_scenario(built.scenario);
  const std::int64_t micro = r.scenario.training.micro_batch_size, dp = r.scenario.parallel.dp;
  // micro, dp <= 2^30 and 2^24 and gas <= 2^30: the product fits 64 bits before the cap check.
  const auto global = static_cast<std::uint64_t>(micro) * static_cast<std::uint64_t>(gas);
  if (global > static_cast<std::uint64_t>(kMaxBatch) ||
      global * static_cast<std::uint64_t>(dp) > static_cast<std::uint64_t>(kMaxBatch))
    throw ConfigError("gradient_accumulation_steps", it->second.text,
                      "micro_batch_size * gradient_accumulation_steps * dp = " + std::to_string(micro) + " * " +
                          it->second.text + " * " + std::to_string(dp) + " exceeds " + std::to_string(kMaxBatch));
  const std::string g = std::to_string(static_cast<std::int64_t>(global) * dp);
  if (const auto u = user.find("global_batch_size"); u != user.end()) {
    if (u->second.text != g)
      throw ConfigError("global_batch_size", u->second.text,
                        "is not micro_batch_size * gradient_accumulation_steps * dp = " + std::to_string(micro) +
                            " * " + it->second.text + " * " + std::to_string(dp) + " = " + g + " (" +
                            it->second.origin + ")");
    return "";
  }
  merged["global_batch_size"] = SettingValue{g, it->second.origin};
  return "global_batch_size " + g + " (micro_batch_size * gradient_accumulation_steps * dp = " + std::to_string(micro) +
         " * " + it->second.text + " * " + std::to_string(dp) + ")";
}

std::string apply_hybrid_shard(Settings& merged, const TrainerInputs& in, const BuiltScenario& built) {
  if (in.hybrid_shard.empty() || merged.count("shard_group_size") != 0) return "";
  // torch.distributed.fsdp HYBRID_SHARD without a device mesh: _init_intra_and_inter_node_groups shards over the
  // node's GPUs (torch.cuda.device_count()) and replicates across nodes; one node = plain FULL_SHARD.
  const sim::ResolvedScenario r = sim::resolve_scenario(built.scenario);
  const std::int64_t dp = r.scenario.parallel.dp;
  const std::int64_t node = in.node_gpus != 0 ? in.node_gpus : r.scenario.gpus_per_node;
  const std::int64_t group = std::min(node, dp);
  const std::string why = in.node_gpus != 0 ? "num_processes / num_machines" : "gpus_per_node";
  // Set even when it is all of dp, so that plan (which does not search shard groups) refuses a hybrid file.
  merged["shard_group_size"] = SettingValue{std::to_string(group), in.hybrid_shard};
  if (group == dp)
    return "shard_group_size " + std::to_string(group) + " (" + in.hybrid_shard + ": the shard group is a node's " +
           std::to_string(node) + " GPUs (" + why + "), all of dp " + std::to_string(dp) + ": plain FSDP)";
  return "shard_group_size " + std::to_string(group) + " (" + in.hybrid_shard + ": HSDP, sharded within a node of " +
         std::to_string(node) + " GPUs (" + why + "), replicated across " + std::to_string(dp / group) +
         " of them; give --shard-group-size to change it)";
}

}  // namespace trainmem::tools
