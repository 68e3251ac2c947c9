// Ecosystem inputs: a DeepSpeed ds_config.json (`deepspeed_config`) and a Megatron-LM argument list
// (`megatron_args`) merged under the scenario YAML and the flags (flags > YAML > ds_config / Megatron args),
// then built into a scenario. See docs/ecosystem-inputs.md for the mapping tables and the sources.
#pragma once

#include <ostream>

#include "tools/inputs/scenario_builder.hpp"

namespace trainmem::tools {

// `user` is the YAML scenario merged with the flags. When it names a ds_config or Megatron arguments, they
// fill every key the user did not give; DeepSpeed's batch rule, the recipe DeepSpeed runs at the final ZeRO
// stage and Hugging Face "auto" bucket sizes are applied once the layout and model are known. One notice
// line per source (what was derived, keys ignored or not modelled) goes to `notices` after the scenario
// built; callers print it only once their estimate succeeded, so an input error stays one line.
BuiltScenario build_scenario_with_inputs(const Settings& user, std::ostream& notices);

}  // namespace trainmem::tools
