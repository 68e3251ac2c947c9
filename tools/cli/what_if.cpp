#include "tools/cli/what_if.hpp"

#include "partition/error.hpp"
#include "sim/accounting/recipe.hpp"

namespace trainmem::tools {
namespace {
const char* granularity_name(sim::RecomputeGranularity g) {
  switch (g) {
    case sim::RecomputeGranularity::none: return "none";
    case sim::RecomputeGranularity::selective: return "selective";
    case sim::RecomputeGranularity::full: return "full";
  }
  return "?";
}

WhatIf run_variant(std::string knob, std::string value, bool is_scenario, const sim::Scenario& variant) {
  WhatIf w{std::move(knob), std::move(value), is_scenario, std::nullopt, {}, Bytes(0), std::nullopt};
  try {
    const sim::EstimateResult r = sim::estimate(variant);
    const auto& c = r.classes[r.max_peak_class];
    w.bytes = c.bytes;
    w.peak = c.peak;
    w.fits = r.fits;
  } catch (const Error& e) {  // ConfigError: the layout forbids the variant; OverflowError: absurd sizes
    w.skipped = e.what();
  }
  return w;
}
}  // namespace

std::vector<WhatIf> what_ifs(const sim::Scenario& scenario, const sim::EstimateResult& base) {
  const auto& resolved = base.resolved.scenario;
  std::vector<WhatIf> rows;
  for (int stage = 0; stage <= 3; ++stage) {
    sim::Scenario v = scenario;
    v.parallel.zero_stage = stage;
    v.training.use_distributed_optimizer = false;
    rows.push_back(run_variant("zero_stage", std::to_string(stage), resolved.parallel.zero_stage == stage, v));
  }
  for (const auto& recipe : sim::recipes()) {
    sim::Scenario v = scenario;
    v.training.recipe = std::string(recipe.name);
    rows.push_back(run_variant("recipe", std::string(recipe.name), base.resolved.recipe->name == recipe.name, v));
  }
  if (scenario.training.low_precision.quantized())  // FP8/FP4: with and without the quantized parameters
    for (const bool gather : {false, true}) {
      sim::Scenario v = scenario;
      v.training.low_precision.param_gather = gather;
      rows.push_back(run_variant("fp8_param_gather", gather ? "true" : "false",
                                 resolved.training.low_precision.param_gather == gather, v));
    }
  for (const auto g :
       {sim::RecomputeGranularity::none, sim::RecomputeGranularity::selective, sim::RecomputeGranularity::full}) {
    const bool is_scenario = resolved.training.recompute_granularity == g;
    if (!scenario.model) {
      rows.push_back({"recompute_granularity",
                      granularity_name(g),
                      is_scenario,
                      "a bare parameter count (num_parameters) has no layers, hence no activations to recompute",
                      {},
                      Bytes(0),
                      std::nullopt});
      continue;
    }
    sim::Scenario v = scenario;
    if (v.training.recompute_granularity != sim::RecomputeGranularity::full) {
      v.training.recompute_method = sim::RecomputeMethod::uniform;
      v.training.recompute_num_layers = 0;
    }
    v.training.recompute_granularity = g;
    rows.push_back(run_variant("recompute_granularity", granularity_name(g), is_scenario, v));
  }
  return rows;
}

}  // namespace trainmem::tools
