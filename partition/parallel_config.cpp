#include "partition/parallel_config.hpp"

#include <string>

#include "partition/error.hpp"

namespace trainmem {
namespace {
constexpr std::int64_t kMaxDegree = 1 << 20;
constexpr std::int64_t kMaxWorld = 1 << 24;  // 16.7M ranks

std::string s(std::int64_t v) { return std::to_string(v); }

void require_degree(const char* field, std::int64_t v) {
  if (v < 1 || v > kMaxDegree) throw ConfigError(field, s(v), "must be between 1 and " + s(kMaxDegree));
}

void require_divides(const char* field, std::int64_t degree, const char* what, std::int64_t n) {
  if (n % degree != 0)
    throw ConfigError(field, s(degree), std::string(what) + " (" + s(n) + ") is not divisible by it");
}

// HSDP: 1 <= S <= dp, S | dp; a group smaller than dp needs ZeRO / FSDP sharding and a dense data-parallel layout
// (cp, Ulysses and expert parallelism shard over groups the hybrid mesh does not describe).
void resolve_shard_group(ParallelConfig& c) {
  const std::int64_t S = c.shard_group_size;
  if (S == 0) {
    c.shard_group_size = c.dp;
    return;
  }
  if (S < 1 || S > c.dp)
    throw ConfigError("shard_group_size", s(S), "must be between 1 and data_parallel_size " + s(c.dp));
  require_divides("shard_group_size", S, "data_parallel_size", c.dp);
  if (S == c.dp) return;
  const std::string hsdp = "HSDP (a shard group smaller than data_parallel_size " + s(c.dp) + ")";
  if (c.zero_stage == 0)
    throw ConfigError("shard_group_size", s(S), hsdp + " needs ZeRO / FSDP sharding; zero_stage is 0");
  if (c.cp > 1) throw ConfigError("shard_group_size", s(S), hsdp + " is not modelled with context_parallel_size > 1");
  if (c.ulysses_sp > 1) throw ConfigError("shard_group_size", s(S), hsdp + " is not modelled with ulysses_sp > 1");
  if (c.ep > 1)
    throw ConfigError("shard_group_size", s(S), hsdp + " is not modelled with expert_model_parallel_size > 1");
}
}  // namespace

ParallelConfig resolve(ParallelConfig c, const ModelSpec* m) {
  require_degree("tensor_model_parallel_size", c.tp);
  require_degree("pipeline_model_parallel_size", c.pp);
  require_degree("context_parallel_size", c.cp);
  require_degree("expert_model_parallel_size", c.ep);
  require_degree("virtual_pipeline_model_parallel_size", c.vpp);
  require_degree("ulysses_sp", c.ulysses_sp);
  if (c.etp == 0) c.etp = c.tp;
  require_degree("expert_tensor_parallel_size", c.etp);
  if (c.zero_stage < 0 || c.zero_stage > 3) throw ConfigError("zero_stage", s(c.zero_stage), "must be 0, 1, 2 or 3");
  if (c.make_vocab_size_divisible_by < 1 || c.make_vocab_size_divisible_by > (1 << 16))
    throw ConfigError("make_vocab_size_divisible_by", s(c.make_vocab_size_divisible_by), "must be between 1 and 65536");

  const std::int64_t model_parallel = c.tp * c.cp * c.pp;  // each <= 2^20: product checked below
  if (model_parallel > kMaxWorld)
    throw ConfigError("tensor_model_parallel_size", s(c.tp),
                      "tp * cp * pp = " + s(model_parallel) + " exceeds the largest world size " + s(kMaxWorld));
  if (c.world_size < 0) throw ConfigError("world_size", s(c.world_size), "must be positive");
  if (c.dp < 0) throw ConfigError("data_parallel_size", s(c.dp), "must be positive");
  if (c.world_size > kMaxWorld) throw ConfigError("world_size", s(c.world_size), "exceeds " + s(kMaxWorld));
  if (c.dp != 0) {
    require_degree("data_parallel_size", c.dp);
    if (c.dp * model_parallel > kMaxWorld)
      throw ConfigError("data_parallel_size", s(c.dp), "tp * cp * pp * dp exceeds " + s(kMaxWorld) + " ranks");
    if (c.world_size != 0 && c.world_size != c.dp * model_parallel)
      throw ConfigError("world_size", s(c.world_size),
                        "does not equal tp * cp * pp * dp = " + s(c.tp) + " * " + s(c.cp) + " * " + s(c.pp) + " * " +
                            s(c.dp) + " = " + s(c.dp * model_parallel));
    c.world_size = c.dp * model_parallel;
  } else if (c.world_size != 0) {
    if (c.world_size % model_parallel != 0)
      throw ConfigError("world_size", s(c.world_size), "is not divisible by tp * cp * pp = " + s(model_parallel));
    c.dp = c.world_size / model_parallel;
  } else {
    c.dp = 1;
    c.world_size = model_parallel;
  }

  if (c.ulysses_sp > 1) require_divides("ulysses_sp", c.ulysses_sp, "data_parallel_size", c.dp);
  resolve_shard_group(c);
  if ((c.tp * c.cp * c.dp) % (c.etp * c.ep) != 0)
    throw ConfigError("expert_model_parallel_size", s(c.ep),
                      "etp * ep = " + s(c.etp * c.ep) + " does not divide tp * cp * dp = " + s(c.tp * c.cp * c.dp));
  if (c.vpp > 1 && c.pp < 2)
    throw ConfigError("virtual_pipeline_model_parallel_size", s(c.vpp), "needs pipeline_model_parallel_size >= 2");
  if (c.zero_stage >= 2 && c.pp > 1)
    throw ConfigError("zero_stage", s(c.zero_stage),
                      "ZeRO-2/3 cannot be combined with pipeline parallelism (pp = " + s(c.pp) +
                          "); DeepSpeed refuses it; use zero_stage 1 (distributed optimizer)");

  if (m == nullptr) {
    if (c.ep > 1) throw ConfigError("expert_model_parallel_size", s(c.ep), "needs a model with experts");
    if (c.first_stage_layers != 0 || c.last_stage_layers != 0)
      throw ConfigError("decoder_first_pipeline_num_layers", s(c.first_stage_layers),
                        "an uneven pipeline split needs a model with layers, not a bare parameter count");
    return c;
  }

  require_divides("tensor_model_parallel_size", c.tp, "num_attention_heads", m->num_attention_heads);
  require_divides("tensor_model_parallel_size", c.tp, "num_query_groups", m->query_groups());
  if (!m->is_moe()) require_divides("tensor_model_parallel_size", c.tp, "ffn_hidden_size", m->ffn());
  if (c.ulysses_sp > 1) require_divides("ulysses_sp", c.ulysses_sp, "num_attention_heads", m->num_attention_heads);
  if (m->is_moe()) {
    require_divides("expert_model_parallel_size", c.ep, "num_experts", m->num_experts);
    require_divides("expert_tensor_parallel_size", c.etp, "moe_ffn_hidden_size", m->expert_ffn());
    if (m->shared_expert_ffn != 0)
      require_divides("tensor_model_parallel_size", c.tp, "shared_expert_ffn", m->shared_expert_ffn);
  } else if (c.ep > 1) {
    throw ConfigError("expert_model_parallel_size", s(c.ep), "the model has no experts (num_experts = 0)");
  }
  if (c.pp > m->num_layers)
    throw ConfigError("pipeline_model_parallel_size", s(c.pp),
                      "exceeds num_layers " + s(m->num_layers) + " (each stage needs a layer)");

  const bool uneven = c.first_stage_layers != 0 || c.last_stage_layers != 0;
  if (uneven) {
    if (c.pp < 2)
      throw ConfigError("decoder_first_pipeline_num_layers", s(c.first_stage_layers),
                        "needs pipeline_model_parallel_size >= 2");
    if (c.vpp > 1)
      throw ConfigError("virtual_pipeline_model_parallel_size", s(c.vpp),
                        "cannot be combined with an uneven first/last stage");
    if (c.first_stage_layers < 0 || c.last_stage_layers < 0)
      throw ConfigError("decoder_first_pipeline_num_layers", s(c.first_stage_layers), "must not be negative");
    // Stages without an explicit count share the remaining layers evenly.
    std::int64_t explicit_stages = 0;
    std::int64_t rest = m->num_layers;
    if (c.first_stage_layers != 0) ++explicit_stages, rest -= c.first_stage_layers;
    if (c.last_stage_layers != 0) ++explicit_stages, rest -= c.last_stage_layers;
    const std::int64_t other = c.pp - explicit_stages;
    if (rest < other || (other == 0 && rest != 0) || (other > 0 && rest % other != 0))
      throw ConfigError("decoder_first_pipeline_num_layers", s(c.first_stage_layers),
                        "with decoder_last_pipeline_num_layers " + s(c.last_stage_layers) + ", the remaining " +
                            s(rest) + " of " + s(m->num_layers) + " layers cannot be split evenly over " + s(other) +
                            " other stages");
  } else if (m->num_layers % (c.pp * c.vpp) != 0) {
    throw ConfigError(c.vpp > 1 ? "virtual_pipeline_model_parallel_size" : "pipeline_model_parallel_size",
                      s(c.vpp > 1 ? c.vpp : c.pp),
                      "num_layers (" + s(m->num_layers) + ") is not divisible by pp * vpp = " + s(c.pp * c.vpp));
  }
  return c;
}

}  // namespace trainmem
