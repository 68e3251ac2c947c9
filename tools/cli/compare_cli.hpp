// `trainmem compare [scenario.yaml] [options] --measured FILE`: what a real run measured (a PyTorch CUDA memory
// snapshot pickle, or a ground-truth lab result JSON; tools/inputs/measured_memory.hpp) beside trainmem's predicted
// peak for the same scenario, the difference, and by category where the lab JSON has categories.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace trainmem::tools {

int cmd_compare(std::vector<std::string> args, std::ostream& out, std::ostream& err);

}  // namespace trainmem::tools
