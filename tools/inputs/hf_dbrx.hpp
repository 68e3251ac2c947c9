// The DBRX family of Hugging Face config.json (model_type dbrx, transformers DbrxConfig): the layout keys sit in
// nested attn_config and ffn_config objects, so it has a reader of its own beside tools/inputs/hf_config.cpp.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "partition/model_spec.hpp"

namespace trainmem::tools {

// `j` is the parsed config.json (model_type "dbrx"); `origin` names the file in errors, which name the nested key
// (`ffn_config.moe_num_experts (in config.json)`). Throws ConfigError for a missing size or a layout that
// ModelSpec does not model; the returned spec is validated.
ModelSpec model_from_dbrx_config(const nlohmann::json& j, const std::string& origin);

}  // namespace trainmem::tools
