#include "tools/validate/validate_plan.hpp"

#include "partition/error.hpp"

namespace trainmem::tools {
namespace {

comm::BufferRole role_of(const sim::ModelStateTerm& t) {
  const std::string& n = t.name;
  if (n.find("absmax") != std::string::npos)
    throw ConfigError("optimizer", n,
                      "8-bit optimizer states are not allocated by trainmem-validate (use adam or adamw)");
  if (n.find("first moment") != std::string::npos) return comm::BufferRole::moment_m;
  if (n.find("second moment") != std::string::npos) return comm::BufferRole::moment_v;
  if (n.find("gradient copy") != std::string::npos) return comm::BufferRole::grad_copy;
  if (n.find("master") != std::string::npos) return comm::BufferRole::master_params;
  if (n.find("grad") != std::string::npos) return comm::BufferRole::grads;
  if (n.find("parameters") != std::string::npos) return comm::BufferRole::params;
  throw ConfigError("optimizer", n,
                    "this optimizer state has no counterpart in the validation step (use adam or adamw)");
}

}  // namespace

std::vector<comm::BufferRequest> buffer_requests(const sim::ModelStateMemory& states) {
  std::vector<comm::BufferRequest> out;
  for (const auto& t : states.terms) {
    if (t.expert_elements.value != 0)
      throw ConfigError("num_experts", "(MoE)", "trainmem-validate allocates dense models only");
    // The role first: low-bit moments (uint8, 4-bit) are refused by their scale rows, not by their dtype label.
    const bool low_bit = t.name.find("moment") != std::string::npos && !parse_dtype(t.dtype);
    if (low_bit)
      throw ConfigError(
          "optimizer", t.name,
          "low-bit optimizer states (" + t.dtype + ") are not allocated by trainmem-validate (use adam or adamw)");
    const comm::BufferRole role = role_of(t);
    const auto dtype = parse_dtype(t.dtype);
    if (!dtype) throw ConfigError("dtype of " + t.name, t.dtype, "not a storage dtype the validation step knows");
    out.push_back(comm::BufferRequest{t.name, std::string(sim::category_name(t.category)), role, *dtype});
  }
  return out;
}

std::map<std::string, Bytes> predicted_by_category(const sim::ModelStateMemory& states) {
  std::map<std::string, Bytes> out;
  for (const auto& t : states.terms) out[std::string(sim::category_name(t.category))] += t.bytes;
  return out;
}

}  // namespace trainmem::tools
