// What a Hugging Face Trainer job's own files say (TrainingArguments, accelerate config: hf_training_args.hpp,
// accelerate_config.hpp), as trainmem settings, plus the rules they share: the Trainer and accelerate fill a
// ds_config's "auto" values from their own arguments and refuse a file value that differs
// (transformers/integrations/deepspeed.py `trainer_config_process`, `fill_match`), and gradient accumulation gives
// global_batch_size = micro_batch_size * gradient_accumulation_steps * dp once dp is known.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/inputs/deepspeed_config.hpp"
#include "tools/inputs/scenario_builder.hpp"
#include "tools/inputs/settings.hpp"

namespace trainmem::tools {

// The values the Trainer (or accelerate) fills into a ds_config's "auto"; each with the field that gave it.
struct TrainerValue {
  std::string text;    // "4", "true"
  std::string origin;  // "args.json: per_device_train_batch_size"
};
struct TrainerValues {
  std::optional<TrainerValue> micro_batch_size, gradient_accumulation_steps, fp16, bf16;
};

struct TrainerInputs {
  std::string origin;  // "args.json", or "args.json + accelerate.yaml"
  Settings settings;   // keys the files give (micro_batch_size, gradient_accumulation_steps, recipe, framework, ...)
  std::vector<UnresolvedSetting> unresolved;  // errors unless a flag or YAML key gives `key`
  std::vector<std::string> derived, ignored, not_modelled;
  TrainerValues values;  // filled into a ds_config's "auto"
  // The ds_config the files name (a path, or accelerate's inline deepspeed_config turned into one), "auto" filled.
  std::optional<DeepSpeedConfig> deepspeed;
  std::string deepspeed_source;  // "args.json: deepspeed", for the "given twice" error
  // HSDP (FSDP HYBRID_SHARD / _HYBRID_SHARD_ZERO2): the field that asked for it ("" = none), and the GPUs per node
  // accelerate gives (num_processes / num_machines; 0 = not given). apply_hybrid_shard() turns them into
  // shard_group_size once dp is known.
  std::string hybrid_shard;
  // fsdp_config.mixed_precision_policy's param_dtype ("bf16", "fp16" or "fp32"; "" = not given) and its field.
  std::string fsdp_param_dtype, fsdp_policy_field;
  std::int64_t node_gpus = 0;
};

// Parses a ds_config JSON tree, fills its "auto" batch and precision values from `v` as the Trainer does, refuses
// file values that differ from them, and reads the result with deepspeed_config_from_json. A filled
// train_batch_size "auto" is dropped: DeepSpeed's batch rule (ecosystem_inputs.cpp) then derives
// micro * gradient_accumulation_steps * dp, the Trainer's world_size * per_device * gradient_accumulation_steps.
DeepSpeedConfig deepspeed_config_filled(nlohmann::json ds, const std::string& origin, const TrainerValues& v);

// --hf-training-args and --accelerate-config (either, both or neither): nullopt when neither is given. A key given
// by both files with different values is an error naming both.
std::optional<TrainerInputs> load_trainer_inputs(const Settings& user);

// --bf16, --fp16, --gradient-checkpointing: Hugging Face's names mapped onto recipe and recompute_granularity
// (a value that disagrees with --recipe / --recompute-granularity is an error naming both).
Settings apply_hf_flag_names(Settings user);

// gradient_accumulation_steps (a flag, YAML key or the files): global_batch_size = micro * gas * dp at the resolved
// layout, or a check of a given global_batch_size. Returns the derived-notice text ("" when nothing was derived).
std::string apply_gradient_accumulation(Settings& merged, const Settings& user, const BuiltScenario& built);

// HSDP from the files: PyTorch's HYBRID_SHARD shards within a node and replicates across nodes, so
// shard_group_size = min(GPUs per node, dp) (accelerate's num_processes / num_machines, else gpus_per_node) unless
// shard_group_size is given. Returns the derived-notice text ("" when nothing was derived).
std::string apply_hybrid_shard(Settings& merged, const TrainerInputs& in, const BuiltScenario& built);

}  // namespace trainmem::tools

namespace trainmem::tools::trainer {

// Shared by the TrainingArguments and accelerate readers.
// FSDP sharding strategy (lower case: full_shard, shard_grad_op, no_shard, hybrid_shard, hybrid_shard_zero2) onto
// framework hf and zero_stage 3 / 2 / 0 (docs/frameworks.md: FSDP2 full shard / shard-grad-op; no_shard = DDP);
// the hybrid strategies (HSDP) are zero_stage 3 / 2 with in.hybrid_shard set (the shard group is the node, resolved
// by apply_hybrid_shard). `path` is the field ("fsdp_config.reshard_after_forward").
void fsdp_strategy(TrainerInputs& in, const std::string& strategy, const std::string& path);
// The recipe of a Trainer / accelerate job without DeepSpeed: fp16 or bf16 mixed precision = torch.autocast over
// the loaded (fp32) parameters (recipe amp); neither = fp32. Under FSDP, fp16 / bf16 set FSDP's mixed-precision policy
// (param_dtype 16-bit over fp32 shards: recipe fsdp-mp) unless fsdp_config.mixed_precision_policy gives param_dtype
// fp32 (then autocast over fp32 FSDP: amp). `path` names the field that set the precision, `value` its value.
void precision_recipe(TrainerInputs& in, bool fp16, bool bf16, bool fsdp, const std::string& path,
                      const std::string& value);
// The keys of a TrainingArguments fsdp_config or an accelerate fsdp_config, "fsdp_" prefix stripped: version,
// reshard_after_forward / sharding_strategy, offload, activation_checkpointing, wrapping and checkpoint keys.
// `legacy_items` are TrainingArguments' "full_shard auto_wrap" words; `prefix` starts each key's path in errors.
// Returns whether activation_checkpointing is on.
bool fsdp_config(TrainerInputs& in, const nlohmann::json& stripped, int default_version,
                 const std::vector<std::string>& legacy_items, const std::string& prefix);
// true / false (or "true" / "false" text, as str_to_bool reads it); null = false.
bool boolean(const TrainerInputs& in, const std::string& path, const nlohmann::json& v);
// `field (in origin)`.
std::string field(const TrainerInputs& in, const std::string& path);
void set(TrainerInputs& in, const std::string& key, const std::string& text, const std::string& path);

}  // namespace trainmem::tools::trainer
