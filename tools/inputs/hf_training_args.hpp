// Hugging Face `TrainingArguments` as a JSON or YAML file of its fields (`--hf-training-args FILE`): the batch,
// precision, gradient checkpointing, optimizer, DeepSpeed and FSDP fields mapped onto trainmem settings, following
// transformers' training_args.py (defaults, the fsdp / fsdp_config rules) and integrations/deepspeed.py (the "auto"
// values it fills). docs/ecosystem-inputs.md lists every field.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "tools/inputs/settings.hpp"
#include "tools/inputs/trainer_inputs.hpp"

namespace trainmem::tools {

// `origin` is the file name (errors: "optim (in args.json)"); `dir` resolves relative deepspeed / fsdp_config
// paths. `user` are the flags and YAML keys: --bf16 / --fp16 given there replace the file's.
TrainerInputs hf_training_args_from_json(const nlohmann::json& args, const std::string& origin, const std::string& dir,
                                         const Settings& user);
TrainerInputs load_hf_training_args(const std::string& path, const Settings& user);

}  // namespace trainmem::tools
