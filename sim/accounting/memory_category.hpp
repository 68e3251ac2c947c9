// Memory categories of one rank, as reported in the JSON `bytes` object (DESIGN.md section 8).
#pragma once

#include <array>
#include <string_view>

#include "partition/units.hpp"

namespace trainmem::sim {

enum class MemoryCategory {
  params,
  grads,
  master_params,
  optimizer_states,
  activations,
  buffers,
  temporaries,
  runtime
};

inline constexpr std::array<MemoryCategory, 8> kMemoryCategories = {
    MemoryCategory::params,           MemoryCategory::grads,       MemoryCategory::master_params,
    MemoryCategory::optimizer_states, MemoryCategory::activations, MemoryCategory::buffers,
    MemoryCategory::temporaries,      MemoryCategory::runtime};

constexpr std::string_view category_name(MemoryCategory c) {
  switch (c) {
    case MemoryCategory::params: return "params";
    case MemoryCategory::grads: return "grads";
    case MemoryCategory::master_params: return "master_params";
    case MemoryCategory::optimizer_states: return "optimizer_states";
    case MemoryCategory::activations: return "activations";
    case MemoryCategory::buffers: return "buffers";
    case MemoryCategory::temporaries: return "temporaries";
    case MemoryCategory::runtime: return "runtime";
  }
  return "?";
}

// Bytes per category; total() is their checked sum.
struct MemoryBreakdown {
  std::array<Bytes, kMemoryCategories.size()> bytes{};
  Bytes& operator[](MemoryCategory c) { return bytes[static_cast<std::size_t>(c)]; }
  Bytes operator[](MemoryCategory c) const { return bytes[static_cast<std::size_t>(c)]; }
  Bytes total() const {
    Bytes t;
    for (Bytes b : bytes) t += b;
    return t;
  }
  friend bool operator==(const MemoryBreakdown&, const MemoryBreakdown&) = default;
};

}  // namespace trainmem::sim
