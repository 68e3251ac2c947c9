// Hugging Face config.json -> ModelSpec for the llama, mistral, mixtral, qwen2, gpt2 and opt families.
#pragma once

#include <string>

#include "partition/model_spec.hpp"

namespace trainmem::tools {

// Parses config.json text; `origin` names the file in error messages.
ModelSpec model_from_hf_config(const std::string& json_text, const std::string& origin);
// Reads and parses a file; missing or unreadable files throw ConfigError.
ModelSpec load_hf_config(const std::string& path);

}  // namespace trainmem::tools
