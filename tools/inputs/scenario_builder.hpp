// Settings (flags merged over a YAML scenario) -> sim::Scenario plus output choices. Picks the model
// source (preset, config.json, shape flags or a bare parameter count) and applies flag overrides.
#pragma once

#include "sim/accounting/scenario.hpp"
#include "tools/inputs/settings.hpp"

namespace trainmem::tools {

enum class OutputFormat { table, json };

struct OutputOptions {
  OutputFormat format = OutputFormat::table;
  bool explain = false;
};

struct BuiltScenario {
  sim::Scenario scenario;
  OutputOptions output;
  std::string model_source;  // "preset gpt3-175b", "config.json path", "shape flags", "num_parameters"
};

BuiltScenario build_scenario(const Settings& settings);

}  // namespace trainmem::tools
