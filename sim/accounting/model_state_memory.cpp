#include "sim/accounting/model_state_memory.hpp"

#include "partition/error.hpp"
#include "sim/accounting/model_state_terms.hpp"
#include "sim/accounting/optimizer_state.hpp"
#include "sim/offload/offload_memory.hpp"

namespace trainmem::sim {

namespace {

// The rows of every optimizer (1-bit ones too; their error buffers are added by model_state_memory()).
std::vector<ModelStateTermRule> term_rules(const Recipe& recipe, const Optimizer& optimizer) {
  std::vector<ModelStateTermRule> out;
  for (const auto& tensor : recipe.tensors)
    out.push_back({std::string(tensor.name),
                   std::string(tensor.dtype_label.empty() ? dtype_name(tensor.dtype) : tensor.dtype_label),
                   tensor.category, tensor.zero_class, bits_per_element(tensor.dtype), 0,
                   tensor.name == kFp32GradCopyName});
  static constexpr const char* kMomentNames[] = {"optimizer state m (first moment)",
                                                 "optimizer state v (second moment)",
                                                 "optimizer state fresh v (1-bit LAMB exp_avg_sq_fresh)"};
  const MomentFormat& f = optimizer.format;
  for (int i = 0; i < optimizer.num_states; ++i) {
    const std::string name = optimizer.num_states == 1 ? "optimizer state (momentum)" : kMomentNames[i];
    const auto cat = MemoryCategory::optimizer_states;
    const auto cls = ZeroStateClass::optimizer;
    if (optimizer.quantized()) {
      // The rank's flat buffer counts as one tensor: the min-size fallback is per tensor (moment_bytes_of_tensor()).
      out.push_back({name, std::string(f.value_label), cat, cls, f.value_bits, 0, false});
      out.push_back({name + " absmax scales", "fp32 per " + std::to_string(f.block), cat, cls,
                     bits_per_element(Dtype::fp32), f.block, false});
    } else {
      // Megatron --exp-avg-dtype / --exp-avg-sq-dtype: fp8 is TE's E4M3 Float8Tensor (fused_adam.py
      // _initialize_state; its fp32 scale and amax are one per tensor, not counted).
      const Dtype d = i == 1 ? second_moment_dtype(recipe) : recipe.moment_dtype;
      out.push_back(
          {name, d == Dtype::fp8 ? "fp8 (e4m3)" : std::string(dtype_name(d)), cat, cls, bits_per_element(d), 0, false});
    }
  }
  for (int i = 0; i < optimizer.extra_fp32_states; ++i)
    out.push_back({"optimizer state momentum_accumulator (0/1 Adam)", "fp32", MemoryCategory::optimizer_states,
                   ZeroStateClass::optimizer, bits_per_element(Dtype::fp32), 0, false});
  return out;
}

}  // namespace

std::vector<ModelStateTermRule> model_state_term_rules(const Recipe& recipe, const Optimizer& optimizer) {
  if (optimizer.error_feedback)
    throw ConfigError("optimizer", std::string(optimizer.name),
                      "its error-feedback buffers depend on the data-parallel size and it runs without ZeRO; "
                      "plan does not search it (size it with estimate --zero-stage 0)");
  return term_rules(recipe, optimizer);
}

ModelStateMemory model_state_memory(const RankParamShard& shard, const Recipe& recipe, const Optimizer& optimizer,
                                    int zero_stage, std::int64_t dp, std::int64_t edp) {
  ModelStateMemory out;
  for (const auto& rule : term_rules(recipe, optimizer)) {
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
  if (optimizer.error_feedback) {
    // DeepSpeed keeps one flat fp32 buffer per parameter group (FP16_Optimizer) and no ZeRO: the rank's parameters.
    const std::uint64_t n = detail::checked_add(shard.dense.value, shard.expert.value, "parameter count");
    const OnebitErrorElements e = onebit_error_elements(n, static_cast<std::uint64_t>(dp));
    const std::string ways = std::to_string(dp);
    struct Buffer {
      const char* name;
      std::uint64_t elements;
      const char* formula;
      bool optional = false;  // left out when it holds nothing
    };
    const Buffer buffers[] = {
        {"1-bit worker_error (error feedback)", e.worker, "round_up(n, dp*lcm(dp,8)), dp = "},
        {"1-bit server_error (error feedback)", e.server, "round_up(n, dp*lcm(dp,8))/dp, dp = "},
        // 1-bit LAMB flattens m with zeros up to the same size (lamb.py dummy_exp_avg, lines 268-273).
        {"1-bit LAMB momentum padding", optimizer.num_states == 3 ? e.worker - n : 0,
         "round_up(n, dp*lcm(dp,8)) - n, dp = ", true}};
    for (const Buffer& b : buffers) {
      if (b.optional && b.elements == 0) continue;
      ModelStateTerm t;
      t.name = b.name;
      t.category = MemoryCategory::optimizer_states;
      t.dtype = "fp32";
      t.dense_elements = ElementCount(b.elements);
      t.bytes = Bytes(detail::checked_mul(b.elements, 4, "error-feedback bytes"));
      t.formula = b.formula + ways;
      out.add(std::move(t));
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
