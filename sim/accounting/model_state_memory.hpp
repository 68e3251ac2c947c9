// Model-state memory of one rank: for each tensor class of the recipe (and the optimizer's moments),
// the elements this rank holds after ZeRO (ceil(n / dp) when the class is sharded at this stage; expert
// parameters over the expert data-parallel group edp) times the dtype size.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "partition/shard_plan.hpp"
#include "sim/accounting/memory_category.hpp"
#include "sim/accounting/recipe.hpp"

namespace trainmem::sim {

struct ModelStateTerm {
  std::string name;
  MemoryCategory category;
  std::string dtype;             // "bf16", "fp32", "int8", "fp32 absmax"
  ElementCount dense_elements;   // after ZeRO sharding over dp
  ElementCount expert_elements;  // after ZeRO sharding over edp
  bool sharded = false;          // sharded by the ZeRO stage in force
  Bytes bytes;
  std::string formula;  // non-empty: how bytes follow from the elements, when not elements x dtype (FP8 caches)
};

struct ModelStateMemory {
  std::vector<ModelStateTerm> terms;
  MemoryBreakdown breakdown;  // only the model-state categories are non-zero

  // Appends a term and adds its bytes to its category.
  void add(ModelStateTerm t) {
    breakdown[t.category] += t.bytes;
    terms.push_back(std::move(t));
  }
};

// Appends a parameter-category term of `elements` (dense) taking `bytes` (frozen or inference weights,
// quantisation scales); nothing when `bytes` is 0.
void add_params_term(ModelStateMemory& m, std::string name, std::string dtype, ElementCount elements, Bytes bytes,
                     bool sharded);

// `dp` is the number of ways dense states shard (the data-parallel group, times cp under Megatron), `edp`
// the expert data-parallel size.
ModelStateMemory model_state_memory(const RankParamShard& shard, const Recipe& recipe, const Optimizer& optimizer,
                                    int zero_stage, std::int64_t dp, std::int64_t edp);

}  // namespace trainmem::sim
