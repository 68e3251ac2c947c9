// Accelerator catalog: the device memory a GPU name stands for, as the total that nvidia-smi /
// cudaMemGetInfo report (not the marketing "GB").
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "partition/units.hpp"

namespace trainmem::sim {

struct DeviceSpec {
  std::string_view name;
  Bytes memory;
  std::string_view source;
};

std::span<const DeviceSpec> devices();
const DeviceSpec* find_device(std::string_view name);
std::optional<std::string> closest_device_name(std::string_view name);

}  // namespace trainmem::sim
