// The ds_config.json reader (deepspeed_config.hpp): walks the file with the key tables of deepspeed_keys.hpp,
// checks each value's type and range, and maps what it reads onto trainmem's Settings, the batch and
// precision facts ecosystem_inputs.cpp resolves later, and the notices' ignored / not-modelled key lists.
#include "tools/inputs/deepspeed_config.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>

#include "partition/error.hpp"
#include "tools/inputs/deepspeed_keys.hpp"
#include "tools/inputs/input_file.hpp"
#include "tools/inputs/json_object.hpp"
#include "tools/inputs/torch_dtype.hpp"

namespace trainmem::tools {
namespace {
using json = nlohmann::json;
// The key tables and their lookup (deepspeed_keys.hpp).
using ds_keys::find_rule;
using ds_keys::kBf16;
using ds_keys::kDataTypes;
using ds_keys::KeyRule;
using ds_keys::KeyRules;
using ds_keys::kFp16;
using ds_keys::kOffloadOptimizer;
using ds_keys::kOffloadParam;
using ds_keys::kOptimizer;
using ds_keys::kTopLevel;
using ds_keys::kZero;
using ds_keys::Rule;
using ds_keys::suggestion;

constexpr std::int64_t kMaxBatch = std::int64_t{1} << 30;        // sim/accounting/scenario.cpp's batch bound
constexpr std::int64_t kMaxCount = 1000000000000000;             // element counts: parse_count's bound
constexpr std::int64_t kMaxExactDouble = std::int64_t{1} << 53;  // integral floats (5e8) are exact below

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct Walker {
  DeepSpeedConfig& out;

  std::string field(const std::string& path) const { return path + " (in " + out.origin + ")"; }
  std::string at(const std::string& path) const { return out.origin + ": " + path; }
  [[noreturn]] void fail(const std::string& path, const json& v, const std::string& reason) const {
    throw ConfigError(field(path), v.dump(), reason);
  }
  static bool is_auto(const json& v) { return v.is_string() && v.get_ref<const std::string&>() == "auto"; }

  // An integer in [lo, hi]; DeepSpeed also accepts integral floats such as 5e8 (pydantic int coercion).
  std::int64_t integer(const std::string& path, const json& v, std::int64_t lo, std::int64_t hi) const {
    const std::string range = "must be a whole number between " + std::to_string(lo) + " and " + std::to_string(hi);
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(hi)) fail(path, v, range);
      const auto x = static_cast<std::int64_t>(u);
      if (x < lo) fail(path, v, range);
      return x;
    }
    if (v.is_number_integer()) {
      const auto x = v.get<std::int64_t>();
      if (x < lo || x > hi) fail(path, v, range);
      return x;
    }
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) || d > static_cast<double>(hi) ||
          std::fabs(d) > static_cast<double>(kMaxExactDouble))
        fail(path, v, range);
      return static_cast<std::int64_t>(d);
    }
    fail(path, v, range);
  }
  bool boolean(const std::string& path, const json& v) const {
    if (!v.is_boolean()) fail(path, v, "must be true or false");
    return v.get<bool>();
  }
  const json& object(const std::string& path, const json& v) const {
    if (!v.is_object()) fail(path, v, "must be a JSON object");
    return v;
  }
  void set(const std::string& key, const std::string& text, const std::string& path) {
    out.settings[key] = SettingValue{text, at(path)};
  }
  void unresolved(const std::string& key, const std::string& path, const json& v, const std::string& reason) {
    out.unresolved.push_back({key, field(path), v.dump(), reason});
  }
  void auto_unresolved(const std::string& key, const std::string& path, const json& v) {
    unresolved(key, path, v, "is filled in by the Hugging Face Trainer from its own arguments");
  }

  // Walks an object's keys with a rule table; `handle` reads the handled ones.
  void walk(const std::string& prefix, const json& obj, KeyRules rules,
            const std::function<void(const std::string& key, const std::string& path, const json& v)>& handle) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      const std::string& key = it.key();
      std::string path = prefix;
      if (!path.empty()) path += '.';
      path += key;
      const KeyRule* r = find_rule(rules, key);
      if (r == nullptr) {
        const std::string hint = suggestion(rules, key);
        throw ConfigError(field(path), it.value().dump(),
                          "unknown DeepSpeed key" + (hint.empty() ? "" : " (did you mean '" + hint + "'?)") +
                              "; docs/ecosystem-inputs.md lists the keys trainmem reads");
      }
      if (r->rule == Rule::ignored) {
        out.ignored.push_back(path);
      } else if (r->rule == Rule::not_modelled) {
        // A switched-off feature has no effect; anything else is listed.
        if (it.value().is_boolean() && !it.value().get<bool>())
          out.ignored.push_back(path);
        else
          out.not_modelled.push_back(path);
      } else {
        handle(key, path, it.value());
      }
    }
  }

  void count(const char* key, const std::string& path, const json& v, std::int64_t lo) {
    set(key, std::to_string(integer(path, v, lo, kMaxCount)), path);
  }

  void offload_device(const char* key, const std::string& path, const json& v) {
    if (!v.is_string()) fail(path, v, "must be one of none, cpu, nvme");
    const auto& d = v.get_ref<const std::string&>();
    if (d != "none" && d != "cpu" && d != "nvme") fail(path, v, "must be one of none, cpu, nvme");
    set(key, d, path);
    if (std::string_view(key) == "offload_optimizer") out.offload_optimizer = d != "none";
  }

  void zero_optimization(const std::string& prefix, const json& z) {
    walk(prefix, object(prefix, z), kZero, [this](const std::string& key, const std::string& path, const json& v) {
      if (key == "stage") {
        if (is_auto(v)) fail(path, v, "must be a whole number between 0 and 3 (\"auto\" is not a ZeRO stage)");
        set("zero_stage", std::to_string(integer(path, v, 0, 3)), path);
      } else if (key == "reduce_bucket_size") {
        if (is_auto(v))
          out.auto_reduce_bucket_size = true;
        else
          count("reduce_bucket_size", path, v, 1);
      } else if (key == "stage3_prefetch_bucket_size" || key == "prefetch_bucket_size") {
        if (is_auto(v))
          out.auto_stage3_prefetch_bucket_size = true;
        else
          count("stage3_prefetch_bucket_size", path, v, 0);
      } else if (key == "stage3_param_persistence_threshold" || key == "param_persistence_threshold") {
        if (is_auto(v))
          out.auto_stage3_param_persistence_threshold = true;
        else
          count("stage3_param_persistence_threshold", path, v, 0);
      } else if (key == "stage3_max_live_parameters" || key == "max_live_parameters") {
        if (is_auto(v))
          auto_unresolved("stage3_max_live_parameters", path, v);
        else
          count("stage3_max_live_parameters", path, v, 1);
      } else if (key == "sub_group_size") {
        if (is_auto(v))
          auto_unresolved("sub_group_size", path, v);
        else
          count("sub_group_size", path, v, 1);
      } else if (key == "overlap_comm" || key == "contiguous_gradients") {
        if (is_auto(v))
          auto_unresolved(key, path, v);
        else
          set(key, boolean(path, v) ? "true" : "false", path);
      } else if (key == "offload_optimizer" || key == "offload_param") {
        if (v.is_null()) return;  // DeepSpeed: Optional, null = no offload
        const bool opt = key == "offload_optimizer";
        const json& o = object(path, v);
        auto handle = [this, opt](const std::string& k, const std::string& p, const json& x) {
          if (k == "device") {
            offload_device(opt ? "offload_optimizer" : "offload_param", p, x);
          } else if (k == "ratio") {  // Twin-Flow partial offload: part of the optimizer stays on the GPU
            if (!x.is_number() || !(x.get<double>() >= 0.0 && x.get<double>() <= 1.0))
              fail(p, x, "must be a number between 0 and 1");
            if (x.get<double>() < 1.0) fail(p, x, "partial optimizer offload (Twin-Flow, ratio < 1) is not modelled");
          } else if (k == "super_offload") {
            if (boolean(p, x)) fail(p, x, "SuperOffload (Superchip CPU offload) is not modelled");
          } else if (k == "pin_memory") {  // one trainmem switch: pinned when either offload asks for it
            if (boolean(p, x) || out.settings.count("offload_pin_memory") == 0)
              set("offload_pin_memory", boolean(p, x) ? "true" : "false", p);
          } else if (k == "buffer_count") {  // NVMe swap buffers (docs/offload.md)
            count(opt ? "offload_optimizer_buffer_count" : "offload_param_buffer_count", p, x, 1);
          } else if (k == "buffer_size") {
            count("offload_param_buffer_size", p, x, 1);
          }
        };
        if (opt)
          walk(path, o, kOffloadOptimizer, handle);
        else
          walk(path, o, kOffloadParam, handle);
      } else if (key == "cpu_offload" || key == "cpu_offload_param") {  // deprecated booleans
        const bool on = boolean(path, v);
        const char* target = key == "cpu_offload" ? "offload_optimizer" : "offload_param";
        if (out.settings.count(target) == 0) set(target, on ? "cpu" : "none", path);
        if (key == "cpu_offload") out.offload_optimizer = out.offload_optimizer || on;
      } else if (key == "legacy_stage1") {
        if (boolean(path, v)) fail(path, v, "the legacy ZeRO stage 1 was removed in DeepSpeed 0.5.9");
      } else if (key == "mics_shard_size") {
        if (integer(path, v, -1, kMaxCount) > 0) fail(path, v, "MiCS (sharding within sub-groups) is not modelled");
      } else if (key == "zero_hpz_partition_size") {
        if (integer(path, v, 0, kMaxCount) > 1)
          fail(path, v, "ZeRO++ hierarchical partitioning (a secondary parameter copy) is not modelled");
      } else if (key == "zero_quantized_nontrainable_weights") {
        if (boolean(path, v)) fail(path, v, "quantized frozen weights are not modelled");
      }
    });
  }

  // fp16 / bf16 / amp / torch_autocast "enabled": true, false or "auto".
  std::optional<bool> enabled(const std::string& path, const json& v) {
    if (is_auto(v)) return std::nullopt;
    return boolean(path, v);
  }

  void optimizer(const json& o) {
    std::optional<std::string> type;
    std::optional<double> momentum;
    std::string type_path = "optimizer.type";
    json type_value;
    walk("optimizer", object("optimizer", o), kOptimizer,
         [&](const std::string& key, const std::string& path, const json& v) {
           if (key == "type") {
             if (!v.is_string()) fail(path, v, "must be an optimizer name such as \"AdamW\"");
             type = v.get<std::string>();
             type_value = v;
           } else if (key == "params") {
             for (auto it = object(path, v).begin(); it != v.end(); ++it) {
               const std::string p = path + "." + it.key();
               if (it.key() == "momentum" && !is_auto(it.value())) {
                 if (!it.value().is_number()) fail(p, it.value(), "must be a number");
                 momentum = it.value().get<double>();
               } else {
                 out.ignored.push_back(p);  // lr, betas, eps, weight_decay, adam_w_mode, torch_adam, ...
               }
             }
           }
         });
    if (!type) return;  // no type: the client passes its own optimizer
    // DeepSpeed lower-cases its own optimizer names (runtime/config.py); torch.optim names map the same way.
    const std::string t = lower(*type);
    std::string mapped;
    if (t == "adam" || t == "adamw" || t == "muadam" || t == "muadamw")
      mapped = t == "adam" || t == "muadam" ? "adam" : "adamw";  // both keep m and v
    else if (t == "sgd" || t == "musgd")
      mapped = momentum.value_or(0.0) > 0.0 ? "sgd-momentum" : "sgd";
    else if (t == "onebitadam" || t == "zerooneadam" || t == "onebitlamb")  // runtime/config.py lines 77-79
      mapped = t == "onebitadam" ? "onebit-adam" : t == "zerooneadam" ? "zero-one-adam" : "onebit-lamb";
    if (mapped.empty()) {
      unresolved("optimizer", type_path, type_value,
                 "is not in trainmem's optimizer table (Adam, AdamW, SGD with or without momentum, "
                 "OneBitAdam, ZeroOneAdam, OneBitLamb)");
      return;
    }
    set("optimizer", mapped, type_path);
  }
};

std::optional<DeepSpeedPrecision> dtype_named(const std::string& s) {
  const std::optional<Dtype> d = torch_dtype_named(s);  // deepspeed/runtime/config.py DtypeEnum spellings
  if (!d) return std::nullopt;
  return *d == Dtype::fp32   ? DeepSpeedPrecision::fp32
         : *d == Dtype::fp16 ? DeepSpeedPrecision::fp16
                             : DeepSpeedPrecision::bf16;
}
}  // namespace

DeepSpeedConfig deepspeed_config_from_json(const std::string& text, const std::string& origin) {
  DeepSpeedConfig out;
  out.origin = std::filesystem::path(origin).filename().string();
  const json j = parse_json_object(text, "deepspeed_config", origin, out.origin);
  Walker w{out};

  std::optional<bool> fp16 = false, bf16 = false;
  std::string fp16_path = "fp16.enabled", bf16_path = "bf16.enabled";
  json fp16_value = false, bf16_value = false;
  bool other_precision = false;  // amp / torch_autocast enabled
  w.walk("", j, kTopLevel, [&](const std::string& key, const std::string& path, const json& v) {
    if (key == "train_batch_size" || key == "train_micro_batch_size_per_gpu" || key == "gradient_accumulation_steps") {
      const bool micro = key == "train_micro_batch_size_per_gpu";
      if (Walker::is_auto(v)) {
        w.auto_unresolved(micro ? "micro_batch_size" : "global_batch_size", path, v);
        return;
      }
      const std::int64_t n = w.integer(path, v, 1, kMaxBatch);
      if (micro) {
        out.micro_batch_size = n;
        w.set("micro_batch_size", std::to_string(n), path);
      } else if (key == "train_batch_size") {
        out.train_batch_size = n;
      } else {
        out.gradient_accumulation_steps = n;
      }
    } else if (key == "zero_optimization") {
      if (v.is_boolean())
        w.set("zero_stage", v.get<bool>() ? "1" : "0", path);  // deprecated form: true = stage 1
      else
        w.zero_optimization(path, v);
    } else if (key == "fp16" || key == "bf16" || key == "bfloat16") {
      const bool is_fp16 = key == "fp16";
      auto handle = [&](const std::string& k, const std::string& p, const json& x) {
        if (k == "enabled") {
          (is_fp16 ? fp16 : bf16) = w.enabled(p, x);
          (is_fp16 ? fp16_path : bf16_path) = p;
          (is_fp16 ? fp16_value : bf16_value) = x;
        } else if (w.boolean(p, x)) {  // fp16/bf16_master_weights_and_grads, bf16_optimizer_states
          w.fail(p, x, "16-bit master weights / optimizer states are not modelled");
        }
      };
      if (is_fp16)
        w.walk(path, w.object(path, v), kFp16, handle);
      else
        w.walk(path, w.object(path, v), kBf16, handle);
    } else if (key == "amp" || key == "torch_autocast") {
      for (auto it = w.object(path, v).begin(); it != v.end(); ++it) {
        const std::string p = path + "." + it.key();
        if (it.key() != "enabled") {
          out.ignored.push_back(p);
          continue;
        }
        const auto on = w.enabled(p, it.value());
        if (!on)
          w.auto_unresolved("recipe", p, it.value());
        else if (*on) {
          w.unresolved("recipe", p, it.value(),
                       key == "amp" ? "Apex AMP keeps its own fp32 copies; not modelled"
                                    : "torch.autocast mixed precision is not modelled");
          other_precision = true;
        }
      }
    } else if (key == "optimizer") {
      w.optimizer(v);
    } else if (key == "data_types") {
      w.walk(path, w.object(path, v), kDataTypes, [&](const std::string&, const std::string& p, const json& x) {
        if (x.is_null()) return;
        const auto d = x.is_string() ? dtype_named(x.get<std::string>()) : std::nullopt;
        if (!d) w.fail(p, x, "must be one of fp32, fp16, bf16");
        out.grad_accum_dtype = d;
      });
    }
  });

  // Precision: DeepSpeed refuses fp16 and bf16 together (runtime/config.py).
  if (fp16 == true && bf16 == true)
    throw ConfigError(w.field(bf16_path), "true", "fp16.enabled is also true; DeepSpeed enables one of them");
  if (!fp16) w.auto_unresolved("recipe", fp16_path, fp16_value);
  if (!bf16) w.auto_unresolved("recipe", bf16_path, bf16_value);
  if (fp16 && bf16 && !other_precision) {
    if (*fp16)
      out.precision = DeepSpeedPrecision::fp16, out.precision_path = fp16_path;
    else if (*bf16)
      out.precision = DeepSpeedPrecision::bf16, out.precision_path = bf16_path;
    else
      out.precision = DeepSpeedPrecision::fp32, out.precision_path = "(neither fp16 nor bf16 enabled)";
  }
  return out;
}

DeepSpeedConfig load_deepspeed_config(const std::string& path) {
  return deepspeed_config_from_json(read_input_file("deepspeed_config", path, "a ds_config JSON file"), path);
}

}  // namespace trainmem::tools
