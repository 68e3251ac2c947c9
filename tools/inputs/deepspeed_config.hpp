// A DeepSpeed ds_config.json mapped onto trainmem's option keys (Settings), following DeepSpeed's own config
// classes (deepspeed/runtime/config.py, runtime/zero/config.py, runtime/zero/offload_config.py) and the Hugging
// Face Trainer's "auto" rules (transformers/integrations/deepspeed.py). Counts are elements, as in DeepSpeed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/inputs/settings.hpp"

namespace trainmem::tools {

// A setting the file names but cannot give: an "auto" value (filled in by the Hugging Face Trainer) or a
// value trainmem does not model. It is an input error unless a flag or the scenario YAML gives `key`.
struct UnresolvedSetting {
  std::string key;     // canonical key that resolves it: "micro_batch_size", "recipe"
  std::string field;   // "train_micro_batch_size_per_gpu (in ds_config.json)"
  std::string value;   // "\"auto\""
  std::string reason;  // "is filled in by the Hugging Face Trainer"
};

enum class DeepSpeedPrecision { fp32, fp16, bf16 };

struct DeepSpeedConfig {
  std::string origin;                     // the file name, used in origins ("ds_config.json: zero_optimization.stage")
  Settings settings;                      // keys whose value the file gives directly
  std::vector<std::string> ignored;       // key paths with no effect on GPU memory
  std::vector<std::string> not_modelled;  // key paths with a GPU-memory effect trainmem does not model
  std::vector<UnresolvedSetting> unresolved;

  // DeepSpeed's batch rule train_batch_size = micro * gradient_accumulation_steps * dp needs dp, which is
  // known once the layout resolves (tools/inputs/ecosystem_inputs.cpp applies it).
  std::optional<std::int64_t> train_batch_size, micro_batch_size, gradient_accumulation_steps;

  // The recipe DeepSpeed runs depends on the precision and on the final ZeRO stage (a flag may change it).
  std::optional<DeepSpeedPrecision> precision;         // unset: "auto" or unsupported (see unresolved)
  std::string precision_path;                          // "bf16.enabled", "fp16.enabled", "(neither fp16 nor bf16)"
  std::optional<DeepSpeedPrecision> grad_accum_dtype;  // data_types.grad_accum_dtype
  bool offload_optimizer = false;                      // offload_optimizer.device is cpu or nvme

  // Hugging Face "auto" bucket sizes, filled from the model's hidden size h as the Trainer does:
  // reduce_bucket_size = h*h; ZeRO-3 only: stage3_prefetch_bucket_size = 0.9*h*h, persistence = 10*h.
  bool auto_reduce_bucket_size = false;
  bool auto_stage3_prefetch_bucket_size = false;
  bool auto_stage3_param_persistence_threshold = false;
};

// Parses ds_config text; `origin` (the file name) appears in origins and error messages. Malformed JSON,
// wrong types, out-of-range values and unknown keys throw ConfigError naming the key path.
DeepSpeedConfig deepspeed_config_from_json(const std::string& text, const std::string& origin);
// Reads a file (through the input-file size cap) and parses it.
DeepSpeedConfig load_deepspeed_config(const std::string& path);

}  // namespace trainmem::tools
