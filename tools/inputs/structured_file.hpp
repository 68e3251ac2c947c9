// A settings file that may be JSON or YAML (Hugging Face TrainingArguments dumps, accelerate config YAML, fsdp_config
// JSON), read through the input-file cap and returned as one JSON tree so that the readers walk one kind of value.
// YAML plain scalars become what PyYAML makes of them (YAML 1.1, which accelerate and transformers use): true/false/
// yes/no/on/off booleans, integers, floats, null/~; quoted scalars stay strings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace trainmem::tools {

// `field` names the flag in errors ("hf_training_args"). JSON when the text starts with '{' (after blanks), else
// YAML. Malformed text, a binary file and a top level that is not a mapping are ConfigErrors naming field and path.
nlohmann::json load_structured_file(const std::string& field, const std::string& path);
nlohmann::json parse_structured_text(const std::string& field, const std::string& origin, const std::string& text);

}  // namespace trainmem::tools
