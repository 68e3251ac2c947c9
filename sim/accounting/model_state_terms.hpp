// The model-state terms of a recipe and optimizer as data: one row per flat buffer a rank holds (bytes per
// element, tensor class, from which ZeRO stage it is sharded: over dp x cp, expert parameters over edp).
// model_state_memory() builds estimate()'s labelled breakdown from these rows and the planner compiles its
// evaluator from the same rows (sim/planner/), so a term is written once. ZeRO: Rajbhandari et al. 2019, Sec. 5.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "partition/units.hpp"
#include "partition/zero_partition.hpp"
#include "sim/accounting/memory_category.hpp"
#include "sim/accounting/recipe.hpp"

namespace trainmem::sim {

struct ModelStateTermRule {
  std::string name;   // "bf16 parameters", "optimizer state m (first moment)", ...
  std::string dtype;  // the label: "bf16", "fp32", "int8", "fp32 per 256"
  MemoryCategory category = MemoryCategory::params;
  ZeroStateClass zero_class = ZeroStateClass::parameters;  // sharded from zero_first_sharding_stage(zero_class) on
  unsigned bits = 0;                                       // storage bits per element (or per scale)
  std::uint64_t block = 0;      // > 0: one `bits`-wide scale per `block` elements (bitsandbytes absmax)
  bool fp32_grad_copy = false;  // the recipe's fp32 gradient copy (optimizer offload moves it: offload_memory())

  bool sharded(int zero_stage) const { return zero_shards(zero_stage, zero_class); }
  // Elements one of `ways` ranks holds of an n-element buffer at `zero_stage` (zero_shard_elements()).
  std::uint64_t held(std::uint64_t n, int zero_stage, std::uint64_t ways) const {
    return sharded(zero_stage) ? detail::ceil_div(n, ways) : n;
  }
  // Bytes of n held elements (bytes_of() of the dtype; absmax: of the ceil(n / block) scales).
  Bytes bytes(std::uint64_t n) const {
    const std::uint64_t stored = block > 0 ? detail::ceil_div(n, block) : n;
    return Bytes(detail::ceil_div(detail::checked_mul(stored, bits, "bytes_of"), 8));
  }
};

// The recipe's tensors in order, then the optimizer's moments (8-bit blockwise: int8 values and fp32 scales).
std::vector<ModelStateTermRule> model_state_term_rules(const Recipe& recipe, const Optimizer& optimizer);

}  // namespace trainmem::sim
