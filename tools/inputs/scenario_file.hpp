// A YAML scenario file -> Settings: a flat mapping of known keys (tools/inputs/settings.hpp) to scalars.
#pragma once

#include <string>

#include "tools/inputs/settings.hpp"

namespace trainmem::tools {

// Reads a YAML scenario. Paths in it (model_config, deepspeed_config) are made relative to the file's folder.
// Missing/empty/malformed files, unknown or duplicate keys throw ConfigError.
Settings load_scenario_file(const std::string& path);

}  // namespace trainmem::tools
