// `trainmem estimate --deepspeed-estimator ...`: DeepSpeed's own ZeRO-2/3 model-state estimator
// arithmetic, for comparing against trainmem's model (see docs/deepspeed-estimator.md).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace trainmem::tools {

bool wants_deepspeed_estimator(const std::vector<std::string>& args);
// args: everything after `estimate`. Returns the exit code; input errors throw ConfigError.
int run_deepspeed_estimator(const std::vector<std::string>& args, std::ostream& out);

}  // namespace trainmem::tools
