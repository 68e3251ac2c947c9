#include "tools/inputs/ecosystem_inputs.hpp"

#include <optional>
#include <string>
#include <vector>

#include "partition/error.hpp"
#include "sim/accounting/scenario.hpp"
#include "tools/inputs/deepspeed_config.hpp"
#include "tools/inputs/megatron_args.hpp"
#include "tools/inputs/structured_file.hpp"
#include "tools/inputs/trainer_inputs.hpp"

namespace trainmem::tools {
namespace {

constexpr std::int64_t kMaxBatch = std::int64_t{1} << 30;  // sim/accounting/scenario.cpp's batch bound

std::string s(std::int64_t v) { return std::to_string(v); }

// a * b, or nullopt when it passes kMaxBatch (every factor is at least 1).
std::optional<std::int64_t> mul_capped(std::int64_t a, std::int64_t b) {
  if (a > kMaxBatch / b) return std::nullopt;
  return a * b;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

void write_notice(std::ostream& notices, const std::string& source, const std::vector<std::string>& derived,
                  const std::vector<std::string>& ignored, const std::vector<std::string>& not_modelled) {
  std::vector<std::string> parts = derived;
  if (!ignored.empty()) parts.push_back("ignored (no effect on GPU memory): " + join(ignored));
  if (!not_modelled.empty())
    parts.push_back("not modelled (their GPU memory is not in the estimate): " + join(not_modelled));
  if (parts.empty()) return;
  std::string line;
  for (const auto& p : parts) line += (line.empty() ? "" : "; ") + p;
  notices << "trainmem: notice: " << source << ": " << line << "\n";
}

const char* precision_name(DeepSpeedPrecision p) {
  return p == DeepSpeedPrecision::bf16 ? "bf16" : p == DeepSpeedPrecision::fp16 ? "fp16" : "fp32";
}

// The recipe DeepSpeed runs (deepspeed/runtime/engine.py _do_optimizer_sanity_check and get_data_types):
//   fp32: no wrapper (ZeRO 1-3: DeepSpeedZeroOptimizer) -> fp32 (16 bytes);
//   fp16: FP16_Optimizer (stage 0) or the ZeRO optimizer: fp16 grads + an fp32 grad copy -> mixed-20;
//   bf16, stage 0: grad_accum_dtype defaults to fp32 -> BF16_Optimizer: bf16 params, fp32 gradient buffer,
//     fp32 master + Adam partitioned over dp (bf16_optimizer.py) -> mixed-18 sharded as ZeRO stage 1;
//   bf16, stage 1 with grad_accum_dtype fp32 and no optimizer offload: BF16_Optimizer -> mixed-18;
//   bf16, stages 1-3 otherwise (grad_accum_dtype defaults to bf16 with ZeRO): the ZeRO optimizer -> mixed-20.
struct DerivedRecipe {
  std::string recipe;
  bool stage_to_one = false;
  std::string why;
};
DerivedRecipe deepspeed_recipe(const DeepSpeedConfig& ds, int stage) {
  const DeepSpeedPrecision p = *ds.precision;
  const auto gad = ds.grad_accum_dtype;
  const std::string where = ds.precision_path + ", ZeRO stage " + std::to_string(stage);
  auto not_modelled = [&](const std::string& reason) -> DerivedRecipe {
    throw ConfigError("data_types.grad_accum_dtype (in " + ds.origin + ")", precision_name(*gad),
                      reason + "; give --recipe");
  };
  switch (p) {
    case DeepSpeedPrecision::fp32:
      if (gad && *gad != DeepSpeedPrecision::fp32) return not_modelled("with fp32 weights is not modelled");
      return {"fp32", false, where};
    case DeepSpeedPrecision::fp16:
      if (gad && *gad != DeepSpeedPrecision::fp16) return not_modelled("with fp16 weights is not modelled");
      return {"mixed-20", false, where};
    case DeepSpeedPrecision::bf16: break;
  }
  const bool fp32_accum = gad == DeepSpeedPrecision::fp32;
  if (stage == 0) {
    if (gad == DeepSpeedPrecision::bf16)
      return not_modelled("bf16 without ZeRO needs fp32 gradient accumulation (DeepSpeed refuses bf16)");
    return {"mixed-18", true, where + ": BF16_Optimizer shards the fp32 master weights and Adam states over dp"};
  }
  if (stage == 1 && fp32_accum && !ds.offload_optimizer) return {"mixed-18", false, where + ": BF16_Optimizer"};
  if (fp32_accum) return not_modelled("fp32 gradient accumulation with bf16 at this ZeRO stage is not modelled");
  return {"mixed-20", false, where};
}

}  // namespace

BuiltScenario build_scenario_with_inputs(const Settings& flags_and_yaml, std::ostream& notices) {
  const Settings user = apply_hf_flag_names(flags_and_yaml);    // --bf16, --fp16, --gradient-checkpointing
  std::optional<TrainerInputs> tr = load_trainer_inputs(user);  // --hf-training-args, --accelerate-config
  const auto ds_it = user.find("deepspeed_config");
  const auto mg_it = user.find("megatron_args");
  if (ds_it == user.end() && mg_it == user.end() && !tr && user.count("gradient_accumulation_steps") == 0)
    return build_scenario(user);

  std::optional<MegatronArgs> mg;
  std::optional<DeepSpeedConfig> ds;
  Settings base;
  if (mg_it != user.end()) base = (mg = megatron_args_from_string(mg_it->second.text))->settings;
  if (mg) {
    // The vocabulary (tools/inputs/megatron_vocab.cpp) matters when the arguments or flags give the model's shape:
    // a preset, config.json or bare parameter count brings its own.
    const bool shape_model = !user.count("model") && !user.count("model_config") && !user.count("num_parameters");
    if (!shape_model || user.count("vocab_size") != 0 || base.count("vocab_size") != 0) {
      if (mg->tokenizer_vocab) mg->ignored.push_back(mg->tokenizer_args);
    } else if (mg->vocab_unknown) {
      throw ConfigError("--vocab-size (in --megatron-args)", "(missing)", *mg->vocab_unknown);
    } else if (mg->tokenizer_vocab) {
      base["vocab_size"] = *mg->tokenizer_vocab;
      mg->derived.push_back(mg->tokenizer_vocab_note);
    }
  }
  if (mg && mg->padded_vocab_size)
    if (const auto pv = user.find("padded_vocab_size");
        pv != user.end() && pv->second.text != std::to_string(*mg->padded_vocab_size))
      throw ConfigError(
          "padded_vocab_size", pv->second.text + " / " + std::to_string(*mg->padded_vocab_size),
          "given with different values by " + pv->second.origin + " and --megatron-args: --padded-vocab-size");
  if (mg && mg->implicit_fp32 && ds_it == user.end())
    base["recipe"] = SettingValue{"fp32", "--megatron-args: (neither --fp16 nor --bf16)"};
  if (tr)  // the Trainer / accelerate files: on the ds_config's level, so a disagreement is an error
    for (const auto& [key, v] : tr->settings) {
      const auto other = base.find(key);
      if (other != base.end() && other->second.text != v.text)
        throw ConfigError(key, other->second.text + " / " + v.text,
                          "given with different values by " + other->second.origin + " and " + v.origin);
      base[key] = v;
    }
  if (ds_it != user.end() && tr) {  // the flag's ds_config, its "auto" filled by the Trainer's values
    ds = deepspeed_config_filled(load_structured_file("deepspeed_config", ds_it->second.text), ds_it->second.text,
                                 tr->values);
    if (tr->deepspeed) tr->ignored.push_back(tr->deepspeed_source + " (replaced by " + ds_it->second.origin + ")");
  } else if (ds_it != user.end()) {
    ds = load_deepspeed_config(ds_it->second.text);
  } else if (tr && tr->deepspeed) {
    ds = std::move(tr->deepspeed);
  }
  if (ds) {
    for (const auto& [key, v] : ds->settings) {
      const auto other = base.find(key);
      if (other != base.end() && other->second.text != v.text)
        throw ConfigError(key, other->second.text + " / " + v.text,
                          "given with different values by " + other->second.origin + " and " + v.origin);
      base[key] = v;
    }
  }
  // Keys the user (flags or YAML) or the Megatron arguments give: they win over the ds_config.
  auto given = [&](const char* key) { return user.count(key) != 0 || (mg && mg->settings.count(key) != 0); };
  if (tr)
    for (const auto& u : tr->unresolved)
      if (user.count(u.key) == 0) throw ConfigError(u.field, u.value, u.reason);
  if (ds)
    for (const auto& u : ds->unresolved)
      if (user.count(u.key) == 0 && !(mg && mg->settings.count(u.key) != 0))
        throw ConfigError(u.field, u.value, u.reason + "; give " + flag_of(u.key) + " (or the YAML key " + u.key + ")");

  Settings merged = merge(base, user);
  BuiltScenario built = build_scenario(merged);
  std::vector<std::string> derived;
  if (ds) {
    // The layout, micro batch and stage as they resolve, for DeepSpeed's rules that depend on them.
    const sim::ResolvedScenario r = sim::resolve_scenario(built.scenario);
    const std::int64_t dp = r.scenario.parallel.dp;
    const int stage = r.scenario.parallel.zero_stage;
    const std::int64_t micro = r.scenario.training.micro_batch_size;
    auto set = [&](const char* key, const std::string& text, const std::string& path) {
      merged[key] = SettingValue{text, ds->origin + ": " + path};
      derived.push_back(std::string(key) + " " + text + " (" + path + ")");
    };
    auto field = [&](const char* key) { return std::string(key) + " (in " + ds->origin + ")"; };

    if (ds->precision && !user.count("recipe")) {
      const DerivedRecipe d = deepspeed_recipe(*ds, stage);
      if (mg && mg->settings.count("recipe") != 0 && mg->settings.at("recipe").text != d.recipe)
        throw ConfigError(
            "recipe", mg->settings.at("recipe").text + " / " + d.recipe,
            "given with different values by " + mg->settings.at("recipe").origin + " and " + ds->origin + ": " + d.why);
      set("recipe", d.recipe, d.why);
      if (d.stage_to_one) set("zero_stage", "1", d.why);
    }

    // DeepSpeed's batch rule (runtime/config.py): train_batch_size = micro * gradient_accumulation_steps * dp.
    const auto T = ds->train_batch_size, G = ds->gradient_accumulation_steps;
    const bool micro_from_ds = ds->micro_batch_size && !given("micro_batch_size");
    if (given("global_batch_size")) {
      // A flag or YAML key overrides; Megatron's --global-batch-size must agree with train_batch_size.
      if (T && mg && mg->settings.count("global_batch_size") != 0 && !user.count("global_batch_size") &&
          mg->settings.at("global_batch_size").text != s(*T))
        throw ConfigError("train_batch_size (in " + ds->origin + ")", s(*T),
                          "differs from --global-batch-size " + mg->settings.at("global_batch_size").text +
                              " in the Megatron arguments");
    } else if (T && (G || micro_from_ds || given("micro_batch_size"))) {
      const bool micro_known = micro_from_ds || given("micro_batch_size");
      if (G && !micro_known) {
        // DeepSpeed derives micro = train_batch_size / (gradient_accumulation_steps * dp).
        const auto per = mul_capped(*G, dp);
        if (!per || *T % *per != 0)
          throw ConfigError(field("train_batch_size"), s(*T),
                            "is not divisible by gradient_accumulation_steps * dp = " + s(*G) + " * " + s(dp));
        set("micro_batch_size", s(*T / *per), "train_batch_size / (gradient_accumulation_steps * dp)");
      } else if (G) {
        const auto mg_ = mul_capped(micro, *G);
        const auto prod = mg_ ? mul_capped(*mg_, dp) : std::nullopt;
        if (!prod || *prod != *T)
          throw ConfigError(field("train_batch_size"), s(*T),
                            "is not micro_batch_size * gradient_accumulation_steps * dp = " + s(micro) + " * " + s(*G) +
                                " * " + s(dp) + (prod ? " = " + s(*prod) : "") + " (DeepSpeed's batch rule)");
      } else {
        const auto per = mul_capped(micro, dp);
        if (!per || *T % *per != 0)
          throw ConfigError(field("train_batch_size"), s(*T),
                            "is not divisible by micro_batch_size * dp = " + s(micro) + " * " + s(dp));
      }
      set("global_batch_size", s(*T), "train_batch_size");
    } else if (T) {
      // Only train_batch_size: DeepSpeed sets gradient_accumulation_steps = 1, micro = train / dp.
      if (*T % dp != 0) throw ConfigError(field("train_batch_size"), s(*T), "is not divisible by dp = " + s(dp));
      if (!given("micro_batch_size")) set("micro_batch_size", s(*T / dp), "train_batch_size / dp");
      set("global_batch_size", s(*T), "train_batch_size");
    } else if (G) {
      const auto mg_ = mul_capped(micro, *G);
      const auto prod = mg_ ? mul_capped(*mg_, dp) : std::nullopt;
      if (!prod)
        throw ConfigError(field("gradient_accumulation_steps"), s(*G),
                          "micro_batch_size * gradient_accumulation_steps * dp exceeds " + s(kMaxBatch));
      set("global_batch_size", s(*prod), "micro * gradient_accumulation_steps * dp");
    }

    // Hugging Face "auto" bucket sizes (transformers/integrations/deepspeed.py): from the hidden size h.
    const bool any_auto = ds->auto_reduce_bucket_size || ds->auto_stage3_prefetch_bucket_size ||
                          ds->auto_stage3_param_persistence_threshold;
    if (any_auto) {
      if (!built.scenario.model) {
        const char* k = ds->auto_reduce_bucket_size            ? "reduce_bucket_size"
                        : ds->auto_stage3_prefetch_bucket_size ? "stage3_prefetch_bucket_size"
                                                               : "stage3_param_persistence_threshold";
        throw ConfigError("zero_optimization." + std::string(k) + " (in " + ds->origin + ")", "\"auto\"",
                          "needs the model's hidden size (a bare parameter count has none); give " + flag_of(k));
      }
      const std::int64_t h = built.scenario.model->hidden_size;  // validated: at most 2^20, so h*h < 2^40
      if (ds->auto_reduce_bucket_size && !given("reduce_bucket_size"))
        set("reduce_bucket_size", s(h * h), "zero_optimization.reduce_bucket_size auto = hidden_size^2");
      if (stage == 3 && ds->auto_stage3_prefetch_bucket_size && !given("stage3_prefetch_bucket_size"))
        set("stage3_prefetch_bucket_size", s(9 * h * h / 10),
            "zero_optimization.stage3_prefetch_bucket_size auto = 0.9 * hidden_size^2");
      if (stage == 3 && ds->auto_stage3_param_persistence_threshold && !given("stage3_param_persistence_threshold"))
        set("stage3_param_persistence_threshold", s(10 * h),
            "zero_optimization.stage3_param_persistence_threshold auto = 10 * hidden_size");
      if (stage != 3 && ds->auto_stage3_prefetch_bucket_size)
        ds->ignored.emplace_back("zero_optimization.stage3_prefetch_bucket_size (auto, below ZeRO-3)");
      if (stage != 3 && ds->auto_stage3_param_persistence_threshold)
        ds->ignored.emplace_back("zero_optimization.stage3_param_persistence_threshold (auto, below ZeRO-3)");
    }
    built = build_scenario(merged);
  }
  if (mg && mg->padded_vocab_size) {
    // VocabParallelEmbedding splits the padded rows evenly over tp (megatron.core.utils.divide asserts it).
    const auto v = merged.find("vocab_size");
    const std::int64_t tp = built.scenario.parallel.tp;
    if (v != merged.end() && v->second.origin == "--megatron-args: --padded-vocab-size" &&
        *mg->padded_vocab_size % tp != 0)
      throw ConfigError("--padded-vocab-size (in --megatron-args)", s(*mg->padded_vocab_size),
                        "is not divisible by tensor_model_parallel_size " + s(tp) +
                            " (the vocab-parallel embedding splits its rows evenly)");
  }
  if (tr)
    if (const std::string h = apply_hybrid_shard(merged, *tr, built); !h.empty()) {
      built = build_scenario(merged);
      tr->derived.push_back(h);
    }
  if (const std::string g = apply_gradient_accumulation(merged, user, built); !g.empty()) {
    built = build_scenario(merged);
    if (tr) tr->derived.push_back(g);
  }
  if (tr) write_notice(notices, tr->origin, tr->derived, tr->ignored, tr->not_modelled);
  if (mg) write_notice(notices, "--megatron-args", mg->derived, mg->ignored, mg->not_modelled);
  if (ds) write_notice(notices, ds->origin, derived, ds->ignored, ds->not_modelled);
  return built;
}

}  // namespace trainmem::tools
