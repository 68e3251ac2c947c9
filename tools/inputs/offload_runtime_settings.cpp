#include "tools/inputs/offload_runtime_settings.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "partition/error.hpp"
#include "tools/inputs/value_parse.hpp"

namespace trainmem::tools {
namespace {
const std::string* find(const Settings& s, const char* key) {
  auto it = s.find(key);
  return it == s.end() ? nullptr : &it->second.text;
}

sim::OffloadDevice device(const char* key, const std::string& text) {
  const std::string v = parse_choice(key, text, {"none", "cpu", "nvme"});
  return v == "cpu" ? sim::OffloadDevice::cpu : v == "nvme" ? sim::OffloadDevice::nvme : sim::OffloadDevice::none;
}

// A size where 0 turns the category off ("0", "0MiB").
Bytes size_or_zero(const char* key, const std::string& text) {
  std::string t = text;
  while (!t.empty() && t.back() == ' ') t.pop_back();
  while (!t.empty() && t.front() == ' ') t.erase(t.begin());
  for (const char* zero : {"0", "0B", "0KiB", "0MiB", "0GiB"})
    if (t == zero) return Bytes(0);
  return parse_size(key, text);
}

// A fraction in [0, 1] as parts per million.
std::uint64_t fraction_ppm(const char* key, const std::string& text) {
  const bool shape_ok = !text.empty() && text.find_first_not_of("0123456789.eE+-") == std::string::npos;
  double v = -1;
  std::size_t used = 0;
  try {
    if (shape_ok) v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (!shape_ok || used != text.size() || !(v >= 0.0 && v <= 1.0))
    throw ConfigError(key, text, "must be a fraction between 0 and 1 (0.05 = 5%)");
  return static_cast<std::uint64_t>(std::llround(v * 1e6));
}
}  // namespace

void apply_offload_and_runtime(const Settings& s, sim::Scenario& sc) {
  auto& o = sc.offload;
  if (const auto* v = find(s, "offload_optimizer")) o.optimizer = device("offload_optimizer", *v);
  if (const auto* v = find(s, "offload_param")) o.param = device("offload_param", *v);
  if (const auto* v = find(s, "offload_activation_checkpoints"))
    o.activation_checkpoints = parse_bool("offload_activation_checkpoints", *v);
  if (const auto* v = find(s, "offload_pin_memory")) o.pin_memory = parse_bool("offload_pin_memory", *v);
  if (const auto* v = find(s, "offload_optimizer_buffer_count"))
    o.optimizer_buffer_count = parse_int("offload_optimizer_buffer_count", *v, 1, 1024);
  if (const auto* v = find(s, "offload_param_buffer_count"))
    o.param_buffer_count = parse_int("offload_param_buffer_count", *v, 1, 1024);
  if (const auto* v = find(s, "offload_param_buffer_size"))
    o.param_buffer_size = parse_count("offload_param_buffer_size", *v, 1, 1000000000000ULL);
  if (const auto* v = find(s, "gpus_per_node")) sc.gpus_per_node = parse_int("gpus_per_node", *v, 1, 1024);

  auto& r = sc.runtime;
  if (const auto* v = find(s, "runtime")) r.enabled = parse_bool("runtime", *v);
  if (const auto* v = find(s, "cuda_context")) r.cuda_context = size_or_zero("cuda_context", *v);
  if (const auto* v = find(s, "nccl_buffsize")) r.nccl_buffsize = size_or_zero("nccl_buffsize", *v);
  if (const auto* v = find(s, "nccl_channels")) r.nccl_channels = parse_int("nccl_channels", *v, 1, 64);
  if (const auto* v = find(s, "nccl_p2p_channels")) r.nccl_p2p_channels = parse_int("nccl_p2p_channels", *v, 1, 64);
  if (const auto* v = find(s, "cublas_workspace")) r.cublas_workspace = size_or_zero("cublas_workspace", *v);
  if (const auto* v = find(s, "attention_workspace")) r.attention_workspace = size_or_zero("attention_workspace", *v);
  if (const auto* v = find(s, "allocator_rounding")) r.allocator_rounding = parse_bool("allocator_rounding", *v);
  if (const auto* v = find(s, "allocator_fragmentation"))
    r.fragmentation_ppm = fraction_ppm("allocator_fragmentation", *v);
}

}  // namespace trainmem::tools
