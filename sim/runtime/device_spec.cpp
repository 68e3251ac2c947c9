#include "sim/runtime/device_spec.hpp"

#include <algorithm>

#include "partition/model_presets.hpp"

namespace trainmem::sim {
namespace {
constexpr DeviceSpec kDevices[] = {
    {"a100-40gb", Bytes(40960 * kMiB), "nvidia-smi total for A100-SXM4-40GB: 40960 MiB"},
    {"a100-80gb", Bytes(81920 * kMiB), "nvidia-smi total for A100-SXM4-80GB: 81920 MiB"},
    {"h100-80gb", Bytes(81559 * kMiB),
     "nvidia-smi total for H100 80GB HBM3: 81559 MiB (measured on this project's device)"},
    {"h200", Bytes(143771 * kMiB), "nvidia-smi total for H200: 143771 MiB (measured on this project's device)"},
    {"rtx-4090", Bytes(24564 * kMiB), "nvidia-smi total for GeForce RTX 4090: 24564 MiB"},
    {"mi300x", Bytes(192 * kGiB), "AMD Instinct MI300X: 192 GiB HBM3"},
};
}  // namespace

std::span<const DeviceSpec> devices() { return kDevices; }

const DeviceSpec* find_device(std::string_view name) {
  for (const auto& d : kDevices)
    if (d.name == name) return &d;
  return nullptr;
}

std::optional<std::string> closest_device_name(std::string_view name) {
  const DeviceSpec* best = nullptr;
  std::size_t best_d = 0;
  for (const auto& d : kDevices) {
    const std::size_t dist = edit_distance(name, d.name);
    if (best == nullptr || dist < best_d) best = &d, best_d = dist;
  }
  if (best == nullptr || best_d > std::max<std::size_t>(3, name.size() / 2)) return std::nullopt;
  return std::string(best->name);
}

}  // namespace trainmem::sim
