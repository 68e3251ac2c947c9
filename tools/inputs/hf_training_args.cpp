// The TrainingArguments reader (hf_training_args.hpp). Field names, defaults and rules from transformers'
// training_args.py (5.x, and the 4.x names still found in saved files); the ds_config "auto" fill is
// trainer_inputs.cpp's.
#include "tools/inputs/hf_training_args.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string_view>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"
#include "tools/inputs/input_file.hpp"
#include "tools/inputs/structured_file.hpp"

namespace trainmem::tools {
namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;
using trainer::field;
using trainer::set;

// Fields with no effect on the GPU memory of a training step: logging, evaluation, saving, the hub, data loading,
// learning-rate schedule and optimizer hyper-parameters, launcher details. 5.x names and 4.x names.
constexpr std::string_view kIgnored[] = {"output_dir",
                                         "overwrite_output_dir",
                                         "num_train_epochs",
                                         "max_steps",
                                         "learning_rate",
                                         "lr_scheduler_type",
                                         "lr_scheduler_kwargs",
                                         "warmup_steps",
                                         "warmup_ratio",
                                         "optim_args",
                                         "weight_decay",
                                         "adam_beta1",
                                         "adam_beta2",
                                         "adam_epsilon",
                                         "average_tokens_across_devices",
                                         "max_grad_norm",
                                         "bf16_full_eval",
                                         "fp16_full_eval",
                                         "tf32",
                                         "neftune_noise_alpha",
                                         "torch_empty_cache_steps",
                                         "logging_strategy",
                                         "logging_steps",
                                         "logging_first_step",
                                         "logging_dir",
                                         "log_on_each_node",
                                         "logging_nan_inf_filter",
                                         "include_num_input_tokens_seen",
                                         "include_tokens_per_second",
                                         "log_level",
                                         "log_level_replica",
                                         "disable_tqdm",
                                         "report_to",
                                         "run_name",
                                         "project",
                                         "trackio_space_id",
                                         "trackio_bucket_id",
                                         "trackio_static_space_id",
                                         "eval_strategy",
                                         "evaluation_strategy",
                                         "eval_steps",
                                         "eval_delay",
                                         "per_device_eval_batch_size",
                                         "per_gpu_eval_batch_size",
                                         "prediction_loss_only",
                                         "eval_on_start",
                                         "eval_do_concat_batches",
                                         "eval_use_gather_object",
                                         "eval_accumulation_steps",
                                         "include_for_metrics",
                                         "include_inputs_for_metrics",
                                         "batch_eval_metrics",
                                         "save_only_model",
                                         "save_strategy",
                                         "save_steps",
                                         "save_on_each_node",
                                         "save_total_limit",
                                         "save_safetensors",
                                         "enable_jit_checkpoint",
                                         "push_to_hub",
                                         "hub_token",
                                         "hub_private_repo",
                                         "hub_model_id",
                                         "hub_strategy",
                                         "hub_always_push",
                                         "hub_revision",
                                         "push_to_hub_model_id",
                                         "push_to_hub_organization",
                                         "push_to_hub_token",
                                         "load_best_model_at_end",
                                         "metric_for_best_model",
                                         "greater_is_better",
                                         "ignore_data_skip",
                                         "restore_callback_states_from_checkpoint",
                                         "full_determinism",
                                         "seed",
                                         "data_seed",
                                         "dataloader_drop_last",
                                         "dataloader_num_workers",
                                         "dataloader_pin_memory",
                                         "dataloader_persistent_workers",
                                         "dataloader_prefetch_factor",
                                         "dataloader_multiprocessing_context",
                                         "dataloader_in_order",
                                         "remove_unused_columns",
                                         "label_names",
                                         "train_sampling_strategy",
                                         "group_by_length",
                                         "length_column_name",
                                         "ddp_find_unused_parameters",
                                         "ddp_bucket_cap_mb",
                                         "ddp_broadcast_buffers",
                                         "ddp_static_graph",
                                         "ddp_backend",
                                         "ddp_timeout",
                                         "debug",
                                         "skip_memory_metrics",
                                         "do_train",
                                         "do_eval",
                                         "do_predict",
                                         "resume_from_checkpoint",
                                         "local_rank",
                                         "fp16_opt_level",
                                         "fp16_backend",
                                         "past_index",
                                         "mp_parameters",
                                         "tpu_num_cores",
                                         "tpu_metrics_debug",
                                         "ray_scope",
                                         "jit_mode_eval",
                                         "use_ipex",
                                         "use_mps_device",
                                         "xpu_backend",
                                         "fsdp_min_num_params",
                                         "fsdp_transformer_layer_cls_to_wrap",
                                         "torch_compile_backend",
                                         "torch_compile_mode",
                                         "dispatch_batches",
                                         "gradient_checkpointing_kwargs",
                                         "activation_checkpointing_kwargs",
                                         "use_legacy_prediction_loop",
                                         "_n_gpu",
                                         "adafactor",
                                         "accelerator_config",
                                         "torchdynamo",
                                         "half_precision_backend",
                                         "label_smoothing_factor",
                                         "auto_find_batch_size",
                                         "use_cache",
                                         "torch_compile",
                                         "use_liger_kernel",
                                         "liger_kernel_config",
                                         "optim_target_modules",
                                         "parallelism_config",
                                         "sharded_ddp",
                                         "split_batches",
                                         "per_gpu_train_batch_size",
                                         "use_cpu",
                                         "no_cuda"};
// Fields read below (or checked above by value); every other name is unknown.
constexpr std::string_view kRead[] = {"per_device_train_batch_size",
                                      "gradient_accumulation_steps",
                                      "bf16",
                                      "fp16",
                                      "gradient_checkpointing",
                                      "activation_checkpointing",
                                      "optim",
                                      "deepspeed",
                                      "fsdp",
                                      "fsdp_config"};

bool is_off(const json& v) {
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || (v.is_string() && v.get<std::string>().empty()) ||
         (v.is_array() && v.empty()) || (v.is_object() && v.empty()) || (v.is_number() && v.get<double>() == 0.0) ||
         (v.is_string() && (v == "no" || v == "none"));
}

struct Reader {
  TrainerInputs& in;
  const json& args;
  std::string dir;

  [[noreturn]] void fail(const std::string& path, const json& v, const std::string& why) const {
    throw ConfigError(field(in, path), v.dump(), why);
  }
  std::int64_t integer(const std::string& path, const json& v, std::int64_t lo, std::int64_t hi) const {
    const bool whole = v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                                 v.get<double>() == std::floor(v.get<double>()));
    if (!whole || v.get<double>() < static_cast<double>(lo) || v.get<double>() > static_cast<double>(hi))
      fail(path, v, "must be a whole number between " + std::to_string(lo) + " and " + std::to_string(hi));
    return v.is_number_integer() ? v.get<std::int64_t>() : static_cast<std::int64_t>(v.get<double>());
  }
  bool boolean(const std::string& path, const json& v) const {
    if (v.is_null()) return false;  // Optional[bool] = None: off
    if (!v.is_boolean()) fail(path, v, "must be true or false");
    return v.get<bool>();
  }
  const json* find(const char* key) const {
    const auto it = args.find(key);
    return it == args.end() ? nullptr : &*it;
  }
  // A field that changes GPU memory in a way trainmem does not model: listed unless it is off.
  void not_modelled_unless_off(const char* key) {
    if (const json* v = find(key); v != nullptr && !is_off(*v)) in.not_modelled.emplace_back(key);
  }
};

// One of OptimizerNames onto trainmem's optimizer and PyTorch implementation (docs/frameworks.md).
void optim(Reader& r, const std::string& name, const std::string& path, bool deepspeed) {
  struct Row {
    std::string_view name, optimizer, impl, note;
  };
  static constexpr Row kRows[] = {
      {"adamw_torch", "adamw", "foreach", ""},
      {"adamw_torch_fused", "adamw", "fused", ""},
      {"adamw_apex_fused", "adamw", "fused", " (Apex FusedAdam: one multi-tensor kernel, no step temporaries)"},
      {"sgd", "sgd", "foreach", ""},
      {"adamw_bnb_8bit", "adam-8bit", "", ""},
      {"adamw_8bit", "adam-8bit", "", ""},
      {"paged_adamw_8bit", "adam-8bit", "",
       " (paged: the states are counted on the GPU; bitsandbytes pages them to the CPU only under memory pressure)"},
      // transformers Trainer: ADAMW_TORCH_4BIT / _8BIT build torchao.optim.AdamW4bit / AdamW8bit.
      {"adamw_torch_4bit", "adamw-torchao-4bit", "", ""},
      {"adamw_torch_8bit", "adamw-torchao-8bit", "", ""},
  };
  for (const auto& row : kRows) {
    if (row.name != name) continue;
    std::string optimizer(row.optimizer);
    if (optimizer == "sgd") {
      // HF passes optim_args "momentum=0.9,..." to torch.optim.SGD (default momentum 0).
      if (const json* oa = r.find("optim_args"); oa != nullptr && oa->is_string()) {
        const std::string s = oa->get<std::string>();
        const auto at = s.find("momentum=");
        if (at != std::string::npos && std::atof(s.c_str() + at + 9) > 0.0) optimizer = "sgd-momentum";
      }
    }
    set(r.in, "optimizer", optimizer, path);
    if (!row.impl.empty() && !deepspeed) set(r.in, "optimizer_impl", std::string(row.impl), path);
    if (!row.note.empty()) r.in.derived.push_back("optim " + name + std::string(row.note));
    return;
  }
  r.in.unresolved.push_back({"optimizer", field(r.in, path), json(name).dump(),
                             "is not in trainmem's optimizer table (adamw_torch, adamw_torch_fused, adamw_apex_fused, "
                             "sgd, adamw_bnb_8bit, adamw_8bit, paged_adamw_8bit, adamw_torch_4bit, adamw_torch_8bit)"});
}

// fsdp (bool, or the legacy "full_shard auto_wrap" string / list) and fsdp_config (dict or a path to one).
void fsdp(Reader& r, const json& fsdp_value, bool& fsdp_on, bool& fsdp_ckpt) {
  std::vector<std::string> items;
  if (fsdp_value.is_boolean()) {
    fsdp_on = fsdp_value.get<bool>();
  } else if (fsdp_value.is_string() || fsdp_value.is_array()) {
    if (fsdp_value.is_string()) {
      std::string word;
      for (char c : fsdp_value.get<std::string>() + " ")
        if (c == ' ' || c == ',') {
          if (!word.empty()) items.push_back(word);
          word.clear();
        } else {
          word += c;
        }
    } else {
      for (const auto& x : fsdp_value) {
        if (!x.is_string()) r.fail("fsdp", fsdp_value, "must be true/false or a list of FSDP options");
        items.push_back(x.get<std::string>());
      }
    }
    fsdp_on = !items.empty();
  } else if (!fsdp_value.is_null()) {
    r.fail("fsdp", fsdp_value, "must be true/false or FSDP options such as \"full_shard auto_wrap\"");
  }
  json cfg = json::object();
  if (const json* c = r.find("fsdp_config"); c != nullptr && !c->is_null()) {
    if (c->is_string()) {
      const std::string s = c->get<std::string>();
      if (!s.empty() && s.front() == '{') {
        cfg = parse_structured_text("fsdp_config", field(r.in, "fsdp_config"), s);
      } else {
        const fs::path p = fs::path(s).is_relative() ? fs::path(r.dir) / s : fs::path(s);
        cfg = load_structured_file("fsdp_config", p.lexically_normal().string());
      }
    } else if (c->is_object()) {
      cfg = *c;
    } else {
      r.fail("fsdp_config", *c, "must be a mapping or a path to a JSON file");
    }
    if (!fsdp_on && !cfg.empty()) r.in.ignored.emplace_back("fsdp_config (fsdp is off)");
  }
  if (!fsdp_on) return;
  json c = json::object();  // transformers strips the "fsdp_" prefix of the keys
  for (auto it = cfg.begin(); it != cfg.end(); ++it)
    c[it.key().rfind("fsdp_", 0) == 0 ? it.key().substr(5) : it.key()] = it.value();
  fsdp_ckpt = trainer::fsdp_config(r.in, c, 2, items, "fsdp_config.");
}
}  // namespace

TrainerInputs hf_training_args_from_json(const json& args, const std::string& origin, const std::string& dir,
                                         const Settings& user) {
  TrainerInputs in;
  in.origin = fs::path(origin).filename().string();
  Reader r{in, args, dir};
  for (auto it = args.begin(); it != args.end(); ++it) {
    const std::string& k = it.key();
    if (std::find(std::begin(kRead), std::end(kRead), k) != std::end(kRead)) continue;
    if (std::find(std::begin(kIgnored), std::end(kIgnored), k) != std::end(kIgnored)) continue;
    std::string best;
    std::size_t best_d = 0;
    for (auto names : {std::span<const std::string_view>(kRead), std::span<const std::string_view>(kIgnored)})
      for (auto n : names)
        if (const auto d = edit_distance(k, n); best.empty() || d < best_d) best = std::string(n), best_d = d;
    const bool close = best_d <= std::max<std::size_t>(2, k.size() / 4);
    throw ConfigError(field(in, k), it.value().dump(),
                      "unknown TrainingArguments field" + (close ? " (did you mean '" + best + "'?)" : std::string()) +
                          "; docs/ecosystem-inputs.md lists the fields trainmem reads");
  }
  // Refused by value: a CPU run, the removed per-GPU batch size, a split accelerator batch, Adafactor (4.x flag).
  for (const char* k : {"use_cpu", "no_cuda"})
    if (const json* v = r.find(k); v != nullptr && r.boolean(k, *v)) r.fail(k, *v, "trains on the CPU, not a GPU");
  if (const json* v = r.find("per_gpu_train_batch_size"); v != nullptr && !v->is_null())
    r.fail("per_gpu_train_batch_size", *v,
           "is deprecated (it overrides the per-device size); give "
           "per_device_train_batch_size");
  if (const json* v = r.find("accelerator_config");
      v != nullptr && v->is_object() && v->contains("split_batches") && (*v)["split_batches"] == true)
    r.fail("accelerator_config.split_batches", true, "splits each batch over the processes; not modelled");
  if (const json* v = r.find("split_batches"); v != nullptr && r.boolean("split_batches", *v))
    r.fail("split_batches", *v, "splits each batch over the processes; not modelled");
  if (const json* v = r.find("sharded_ddp"); v != nullptr && !is_off(*v))
    r.fail("sharded_ddp", *v, "FairScale sharded DDP (transformers 4.x) is not modelled");
  if (const json* v = r.find("parallelism_config"); v != nullptr && !is_off(*v))
    r.fail("parallelism_config", *v,
           "accelerate ParallelismConfig (tp/cp/dp_shard) is not modelled; give the layout "
           "flags");
  if (const json* v = r.find("half_precision_backend"); v != nullptr && *v == "apex")
    r.fail("half_precision_backend", *v, "Apex AMP keeps its own fp32 copies; not modelled");
  for (const char* k : {"torch_compile", "use_liger_kernel", "auto_find_batch_size", "torchdynamo",
                        "optim_target_modules", "label_smoothing_factor", "use_cache"})
    r.not_modelled_unless_off(k);
  for (auto it = args.begin(); it != args.end(); ++it) {
    const bool listed = std::find(in.not_modelled.begin(), in.not_modelled.end(), it.key()) != in.not_modelled.end() ||
                        std::find(std::begin(kRead), std::end(kRead), it.key()) != std::end(kRead) ||
                        it.key() == "adafactor";
    if (!listed) in.ignored.push_back(it.key());
  }

  // The batch: TrainingArguments defaults per_device_train_batch_size 8, gradient_accumulation_steps 1.
  constexpr std::int64_t kMaxBatch = std::int64_t{1} << 30;
  const json* mb = r.find("per_device_train_batch_size");
  const std::int64_t micro = mb ? r.integer("per_device_train_batch_size", *mb, 1, kMaxBatch) : 8;
  set(in, "micro_batch_size", std::to_string(micro), "per_device_train_batch_size");
  if (!mb) in.derived.emplace_back("micro_batch_size 8 (per_device_train_batch_size: the TrainingArguments default)");
  const json* ga = r.find("gradient_accumulation_steps");
  const std::int64_t gas = ga ? r.integer("gradient_accumulation_steps", *ga, 1, kMaxBatch) : 1;
  set(in, "gradient_accumulation_steps", std::to_string(gas), "gradient_accumulation_steps");
  in.values.micro_batch_size = TrainerValue{std::to_string(micro), in.origin + ": per_device_train_batch_size"};
  in.values.gradient_accumulation_steps =
      TrainerValue{std::to_string(gas), in.origin + ": gradient_accumulation_steps"};

  // Precision: bf16 / fp16, replaced by the --bf16 / --fp16 flags. The Trainer fills a ds_config's
  // fp16.enabled / bf16.enabled "auto" with fp16 or fp16_full_eval (bf16 likewise).
  auto flag_or = [&](const char* key) -> std::pair<bool, std::string> {
    if (const auto u = user.find(key); u != user.end())
      return {u->second.text == "true" || u->second.text == "1", u->second.origin};
    const json* v = r.find(key);
    const std::string eval = std::string(key) + "_full_eval";
    const json* e = r.find(eval.c_str());
    return {(v && r.boolean(key, *v)) || (e && r.boolean(eval, *e)), in.origin + ": " + key};
  };
  const auto [fp16, fp16_origin] = flag_or("fp16");
  const auto [bf16, bf16_origin] = flag_or("bf16");
  if (fp16 && bf16) throw ConfigError(field(in, "bf16"), "true", "fp16 is also true; the Trainer enables one of them");
  in.values.fp16 = TrainerValue{fp16 ? "true" : "false", fp16_origin};
  in.values.bf16 = TrainerValue{bf16 ? "true" : "false", bf16_origin};

  // Gradient checkpointing: activation_checkpointing (5.x) or its deprecated alias gradient_checkpointing.
  bool ckpt = false;
  const json* ac = r.find("activation_checkpointing");
  const json* gc = r.find("gradient_checkpointing");
  if (ac != nullptr && !ac->is_null())
    ckpt = r.boolean("activation_checkpointing", *ac);
  else if (gc != nullptr)
    ckpt = r.boolean("gradient_checkpointing", *gc);

  // DeepSpeed (a path or a dict) and FSDP.
  const json* ds = r.find("deepspeed");
  bool fsdp_on = false, fsdp_ckpt = false;
  const json* fv = r.find("fsdp");
  fsdp(r, fv ? *fv : json(nullptr), fsdp_on, fsdp_ckpt);
  const bool ds_on = ds != nullptr && !ds->is_null() && !(ds->is_string() && ds->get<std::string>().empty());
  if (ds_on && fsdp_on) r.fail("fsdp", *fv, "and deepspeed are both set; the Trainer runs one of them");
  const json* o = r.find("optim");
  if (o != nullptr && !o->is_string()) r.fail("optim", *o, "must be an optimizer name such as \"adamw_torch\"");
  std::string optim_name = o ? o->get<std::string>() : "adamw_torch_fused";
  if (const json* a = r.find("adafactor"); a != nullptr && r.boolean("adafactor", *a)) optim_name = "adafactor";
  if (ds_on) {
    json tree;
    std::string ds_origin;
    if (ds->is_object()) {
      tree = *ds, ds_origin = in.origin + ": deepspeed";
    } else if (ds->is_string()) {
      const fs::path p = fs::path(ds->get<std::string>()).is_relative() ? fs::path(dir) / ds->get<std::string>()
                                                                        : fs::path(ds->get<std::string>());
      ds_origin = p.lexically_normal().string();
      tree = parse_structured_text("deepspeed_config", ds_origin,
                                   read_input_file("deepspeed_config", ds_origin, "a ds_config JSON file"));
    } else {
      r.fail("deepspeed", *ds, "must be a path to a ds_config JSON file or a mapping");
    }
    if (tree.contains("optimizer"))
      in.ignored.emplace_back("optim (the ds_config's optimizer is used)");
    else
      optim(r, optim_name, "optim", true);
    in.deepspeed = deepspeed_config_filled(tree, ds_origin, in.values);
    in.deepspeed_source = in.origin + ": deepspeed";
    in.derived.emplace_back(
        "deepspeed: DeepSpeed's ZeRO accounting (framework megatron; the hf profile models PyTorch "
        "DDP and FSDP)");
  } else {
    set(in, "framework", "hf", "(the Trainer on PyTorch)");
    if (o == nullptr)
      in.derived.emplace_back("optim adamw_torch_fused (the TrainingArguments default of transformers 5)");
    optim(r, optim_name, "optim", false);
    trainer::precision_recipe(in, fp16, bf16, fsdp_on, fp16 ? "fp16" : "bf16", "true");
  }
  if (ckpt || fsdp_ckpt)
    set(in, "recompute_granularity", "full",
        fsdp_ckpt ? "fsdp_config.activation_checkpointing" : "gradient_checkpointing");
  return in;
}

TrainerInputs load_hf_training_args(const std::string& path, const Settings& user) {
  const json args = load_structured_file("hf_training_args", path);
  return hf_training_args_from_json(args, path, fs::path(path).parent_path().string(), user);
}

}  // namespace trainmem::tools
