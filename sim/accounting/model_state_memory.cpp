#include "sim/accounting/model_state_memory.hpp"

namespace trainmem::sim {

ModelStateMemory model_state_memory(const RankParamShard& shard, const Recipe& recipe, const Optimizer& optimizer,
                                    int zero_stage, std::int64_t dp, std::int64_t edp) {
  ModelStateMemory out;
  auto held = [&](ZeroStateClass cls, ElementCount n, std::int64_t ways) {
    return zero_shards(zero_stage, cls) ? zero_shard_elements(n, ways) : n;
  };
  auto add = [&](std::string name, MemoryCategory cat, std::string dtype_label, ZeroStateClass cls,
                 auto bytes_for_elements) {
    ModelStateTerm t;
    t.name = std::move(name);
    t.category = cat;
    t.dtype = std::move(dtype_label);
    t.sharded = zero_shards(zero_stage, cls);
    t.dense_elements = held(cls, shard.dense, dp);
    t.expert_elements = held(cls, shard.expert, edp);
    // Dense and expert parameters live in separate flat buffers (different DP groups): size each.
    t.bytes = bytes_for_elements(t.dense_elements) + bytes_for_elements(t.expert_elements);
    out.add(std::move(t));
  };

  for (const auto& tensor : recipe.tensors) {
    const Dtype d = tensor.dtype;
    add(std::string(tensor.name), tensor.category, std::string(dtype_name(d)), tensor.zero_class,
        [d](ElementCount n) { return bytes_of(n, d); });
  }
  static constexpr const char* kMomentNames[] = {"optimizer state m (first moment)",
                                                 "optimizer state v (second moment)"};
  for (int i = 0; i < optimizer.num_states; ++i) {
    const std::string name = optimizer.num_states == 1 ? "optimizer state (momentum)" : kMomentNames[i];
    if (optimizer.blockwise_8bit) {
      add(name, MemoryCategory::optimizer_states, "int8", ZeroStateClass::optimizer,
          [](ElementCount n) { return bytes_of(n, Dtype::int8); });
      add(name + " absmax scales", MemoryCategory::optimizer_states, "fp32 per 256", ZeroStateClass::optimizer,
          [](ElementCount n) {
            return bytes_of(ElementCount(detail::ceil_div(n.value, kBlockwise8bitBlock)), Dtype::fp32);
          });
    } else {
      const Dtype d = recipe.moment_dtype;
      add(name, MemoryCategory::optimizer_states, std::string(dtype_name(d)), ZeroStateClass::optimizer,
          [d](ElementCount n) { return bytes_of(n, d); });
    }
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
