// An accelerate config YAML (`accelerate config` writes ~/.cache/huggingface/accelerate/default_config.yaml;
// `--accelerate-config FILE`): distributed_type, mixed_precision, num_processes / num_machines, and the
// deepspeed_config / fsdp_config sections mapped onto trainmem settings, following accelerate's
// commands/config/config_args.py and utils/dataclasses.py (DeepSpeedPlugin, FullyShardedDataParallelPlugin).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "tools/inputs/settings.hpp"
#include "tools/inputs/trainer_inputs.hpp"

namespace trainmem::tools {

// `origin` is the file name; `dir` resolves a relative deepspeed_config_file. `user`: --bf16 / --fp16 replace
// mixed_precision. `trainer` (when a TrainingArguments file is given too) fills the ds_config's micro batch.
TrainerInputs accelerate_config_from_json(const nlohmann::json& cfg, const std::string& origin, const std::string& dir,
                                          const Settings& user, const TrainerValues* trainer);
TrainerInputs load_accelerate_config(const std::string& path, const Settings& user, const TrainerValues* trainer);

}  // namespace trainmem::tools
