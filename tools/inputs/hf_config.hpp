// Hugging Face config.json -> ModelSpec for the Llama-style (llama, mistral, mixtral, qwen2, qwen2_moe, qwen3,
// qwen3_moe, phi3, granite, smollm3), Gemma (gemma, gemma2, gemma3_text), GPT-NeoX, GPT-2 and OPT families. A key that
// changes the layout in a way ModelSpec does not model is refused with its name and value, never ignored.
#pragma once

#include <string>

#include "partition/model_spec.hpp"

namespace trainmem::tools {

// Parses config.json text; `origin` names the file in error messages.
ModelSpec model_from_hf_config(const std::string& json_text, const std::string& origin);
// Reads and parses a file; missing or unreadable files throw ConfigError.
ModelSpec load_hf_config(const std::string& path);

}  // namespace trainmem::tools
