#include "sim/accounting/model_state_memory.hpp"

#include "sim/accounting/model_state_terms.hpp"
#include "sim/offload/offload_memory.hpp"

namespace trainmem::sim {

std::vector<ModelStateTermRule> model_state_term_rules(const Recipe& recipe, const Optimizer& optimizer) {
  std::vector<ModelStateTermRule> out;
  for (const auto& tensor : recipe.tensors)
    out.push_back({std::string(tensor.name),
                   std::string(tensor.dtype_label.empty() ? dtype_name(tensor.dtype) : tensor.dtype_label),
                   tensor.category, tensor.zero_class, bits_per_element(tensor.dtype), 0,
                   tensor.name == kFp32GradCopyName});
  static constexpr const char* kMomentNames[] = {"optimizer state m (first moment)",
                                                 "optimizer state v (second moment)"};
  for (int i = 0; i < optimizer.num_states; ++i) {
    const std::string name = optimizer.num_states == 1 ? "optimizer state (momentum)" : kMomentNames[i];
    const auto cat = MemoryCategory::optimizer_states;
    const auto cls = ZeroStateClass::optimizer;
    if (optimizer.blockwise_8bit) {
      out.push_back({name, "int8", cat, cls, bits_per_element(Dtype::int8), 0, false});
      out.push_back({name + " absmax scales", "fp32 per 256", cat, cls, bits_per_element(Dtype::fp32),
                     kBlockwise8bitBlock, false});
    } else {
      // Megatron --exp-avg-dtype / --exp-avg-sq-dtype: fp8 is TE's E4M3 Float8Tensor (fused_adam.py
      // _initialize_state; its fp32 scale and amax are one per tensor, not counted).
      const Dtype d = i == 1 ? second_moment_dtype(recipe) : recipe.moment_dtype;
      out.push_back(
          {name, d == Dtype::fp8 ? "fp8 (e4m3)" : std::string(dtype_name(d)), cat, cls, bits_per_element(d), 0, false});
    }
  }
  return out;
}

ModelStateMemory model_state_memory(const RankParamShard& shard, const Recipe& recipe, const Optimizer& optimizer,
                                    int zero_stage, std::int64_t dp, std::int64_t edp) {
  ModelStateMemory out;
  for (const auto& rule : model_state_term_rules(recipe, optimizer)) {
    ModelStateTerm t;
    t.name = rule.name;
    t.category = rule.category;
    t.dtype = rule.dtype;
    t.sharded = rule.sharded(zero_stage);
    t.dense_elements = ElementCount(rule.held(shard.dense.value, zero_stage, static_cast<std::uint64_t>(dp)));
    t.expert_elements = ElementCount(rule.held(shard.expert.value, zero_stage, static_cast<std::uint64_t>(edp)));
    // Dense and expert parameters live in separate flat buffers (different DP groups): size each.
    t.bytes = rule.bytes(t.dense_elements.value) + rule.bytes(t.expert_elements.value);
    out.add(std::move(t));
  }
  return out;
}

void add_params_term(ModelStateMemory& m, std::string name, std::string dtype, ElementCount elements, Bytes bytes,
                     bool sharded) {
  if (bytes.value == 0) return;
  ModelStateTerm t;
  t.name = std::move(name);
  t.category = MemoryCategory::params;
  t.dtype = std::move(dtype);
  t.dense_elements = elements;
  t.sharded = sharded;
  t.bytes = bytes;
  m.add(std::move(t));
}

}  // namespace trainmem::sim
