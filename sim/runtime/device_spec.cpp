#include "sim/runtime/device_spec.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <vector>

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
    // Measured nvidia-smi totals (MiB) quoted in public issue threads; the thread is named in the source string.
    {"b200", Bytes(183359 * kMiB),
     "nvidia-smi total for NVIDIA B200: 183359 MiB (measured, NVIDIA/TensorRT-LLM issue #10278)"},
    {"h20", Bytes(97871 * kMiB), "nvidia-smi total for NVIDIA H20: 97871 MiB (measured, NVIDIA/nvtrust issue #128)"},
    {"l40s", Bytes(46068 * kMiB),
     "nvidia-smi total for NVIDIA L40S: 46068 MiB (measured, modal-labs/modal-client #2797)"},
    {"a10", Bytes(23028 * kMiB),
     "nvidia-smi total for NVIDIA A10: 23028 MiB (measured, modal-labs/modal-client #2797)"},
    {"rtx-5090", Bytes(32607 * kMiB),
     "nvidia-smi total for GeForce RTX 5090: 32607 MiB (measured, noonghunna/club-3090 issue #617)"},
    // No public measured total found: the marketing capacity. NVIDIA's "GB" is taken as 10^9 bytes (B200's
    // marketed 192 GB is 192.3e9 bytes as measured above); AMD's and Intel's as GiB (MI300X's rocm-smi total is
    // 206,141,652,992 bytes = 192 GiB - 16 MiB, ROCm/legacy-rocm-build #4750).
    {"b300", Bytes(288'000'000'000ULL), "NVIDIA B300 (HGX, per GPU): 288 GB HBM3e marketing, taken as 10^9 bytes"},
    {"gb200", Bytes(186'000'000'000ULL),
     "NVIDIA GB200 (per Blackwell GPU; NVL72 13.4 TB / 72): 186 GB HBM3e marketing, taken as 10^9 bytes"},
    {"mi325x", Bytes(256 * kGiB), "AMD Instinct MI325X: 256 GB HBM3E marketing, taken as GiB (as MI300X's 192)"},
    {"mi355x", Bytes(288 * kGiB), "AMD Instinct MI355X: 288 GB HBM3E marketing, taken as GiB (as MI300X's 192)"},
    {"gaudi3", Bytes(128 * kGiB), "Intel Gaudi 3 (HL-325L): 128 GB HBM2e marketing, taken as GiB"},
};
}  // namespace

std::span<const DeviceSpec> devices() { return kDevices; }

namespace {
// A GPU name as a user may write it, reduced to the table's spelling: lower case, words joined by '-', and the
// words that do not tell these devices apart dropped (vendor, product line, SXM form factor, memory type), so
// "H100-80GB", "H100 80GB", "NVIDIA H100 80GB HBM3" (nvidia-smi) and "A100-SXM4-80GB" are table names.
std::string normalized_gpu_name(std::string_view name) {
  static constexpr std::string_view kDropped[] = {"nvidia", "amd",  "geforce", "instinct", "tesla", "sxm",  "sxm2",
                                                  "sxm4",   "sxm5", "hbm2",    "hbm2e",    "hbm3",  "hbm3e"};
  std::string out, word;
  const auto flush = [&] {
    if (!word.empty() && std::find(std::begin(kDropped), std::end(kDropped), word) == std::end(kDropped))
      out += (out.empty() ? "" : "-") + word;
    word.clear();
  };
  for (const char ch : name) {
    if (ch == ' ' || ch == '-' || ch == '_')
      flush();
    else
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  flush();
  return out;
}

std::string without_hyphens(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '-'), s.end());
  return s;
}

// "h100" for "h100-80gb": the name without a trailing memory size ("-NNgb"); "" when it has none.
std::string family_of(std::string_view device) {
  const auto dash = device.rfind('-');
  if (dash == std::string_view::npos || device.size() < dash + 4 || !device.ends_with("gb")) return "";
  for (std::size_t i = dash + 1; i + 2 < device.size(); ++i)
    if (std::isdigit(static_cast<unsigned char>(device[i])) == 0) return "";
  return std::string(device.substr(0, dash));
}

// The devices of the family `name` names ("a100": a100-40gb and a100-80gb).
std::vector<const DeviceSpec*> family_members(const std::string& name) {
  std::vector<const DeviceSpec*> out;
  for (const auto& d : devices())
    if (!name.empty() && without_hyphens(family_of(d.name)) == without_hyphens(name)) out.push_back(&d);
  return out;
}
}  // namespace

// Exact table names first; then the same name in any letter case and spelling normalized_gpu_name() accepts;
// then a family name that stands for exactly one device ("h100" = h100-80gb while it is the only H100).
const DeviceSpec* find_device(std::string_view name) {
  for (const auto& d : devices())
    if (d.name == name) return &d;
  const std::string n = normalized_gpu_name(name);
  for (const auto& d : devices())
    if (without_hyphens(std::string(d.name)) == without_hyphens(n)) return &d;
  const auto family = family_members(n);
  return family.size() == 1 ? family.front() : nullptr;
}

// A family name with several devices ("a100") suggests them all ("a100-40gb or a100-80gb"); otherwise the
// table name nearest to the normalized name (edit distance), when it is near enough.
std::optional<std::string> closest_device_name(std::string_view name) {
  const std::string n = normalized_gpu_name(name);
  const auto family = family_members(n);
  if (family.size() > 1) {
    std::string all;
    for (std::size_t i = 0; i < family.size(); ++i)
      all += (i == 0 ? "" : i + 1 == family.size() ? " or " : ", ") + std::string(family[i]->name);
    return all;
  }
  const DeviceSpec* best = nullptr;
  std::size_t best_d = 0;
  for (const auto& d : devices()) {
    const std::size_t dist = edit_distance(n, d.name);
    if (best == nullptr || dist < best_d) best = &d, best_d = dist;
  }
  if (best == nullptr || best_d > std::max<std::size_t>(3, n.size() / 2)) return std::nullopt;
  return std::string(best->name);
}

}  // namespace trainmem::sim
