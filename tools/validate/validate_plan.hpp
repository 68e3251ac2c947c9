// From a prediction to the step's request list: each model-state term of a rank class becomes one
// buffer (role from its name, dtype from its label). Only the roles and dtypes travel to comm/; the
// predicted bytes stay here for the comparison.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "comm/validation_step.hpp"
#include "sim/accounting/model_state_memory.hpp"

namespace trainmem::tools {

// Throws ConfigError for a term the step cannot allocate for real (8-bit states, expert parameters).
std::vector<comm::BufferRequest> buffer_requests(const sim::ModelStateMemory& states);

// Predicted bytes per category name ("params", "grads", ...), model-state terms only.
std::map<std::string, Bytes> predicted_by_category(const sim::ModelStateMemory& states);

}  // namespace trainmem::tools
