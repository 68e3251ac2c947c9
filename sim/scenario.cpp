#include "sim/scenario.hpp"

#include <string>

#include "partition/error.hpp"

namespace trainmem::sim {
namespace {
constexpr std::int64_t kMaxSeq = 1LL << 25;       // 33.5M tokens
constexpr std::int64_t kMaxBatch = 1LL << 30;
constexpr std::uint64_t kMaxParameters = 1000000000000000ULL;  // 1e15: a thousand trillion

std::string s(std::int64_t v) { return std::to_string(v); }
}  // namespace

ResolvedScenario resolve_scenario(Scenario sc) {
  ResolvedScenario r;
  auto& t = sc.training;
  if (sc.model.has_value() == sc.num_parameters.has_value())
    throw ConfigError("model", sc.model ? sc.model->name : "(none)",
                      sc.model ? "give either a model or num_parameters, not both"
                               : "no model: give model, model_config, the shape flags or num_parameters");
  if (sc.num_parameters && (sc.num_parameters->value == 0 || sc.num_parameters->value > kMaxParameters))
    throw ConfigError("num_parameters", std::to_string(sc.num_parameters->value), "must be between 1 and 1e15");

  r.recipe = find_recipe(t.recipe);
  if (r.recipe == nullptr)
    throw ConfigError("recipe", t.recipe, "unknown; one of mixed-16 (zero-paper), mixed-18 (megatron), "
                                          "mixed-20 (deepspeed), fp32, bf16");
  r.optimizer = find_optimizer(t.optimizer);
  if (r.optimizer == nullptr)
    throw ConfigError("optimizer", t.optimizer, "unknown; one of adam, adamw, sgd-momentum, sgd, adam-8bit");
  if (t.use_distributed_optimizer) {
    if (sc.parallel.zero_stage > 1)
      throw ConfigError("use_distributed_optimizer", "true",
                        "is ZeRO stage 1 and conflicts with zero_stage " + std::to_string(sc.parallel.zero_stage));
    sc.parallel.zero_stage = 1;
  }

  if (t.seq_length == 0) t.seq_length = sc.default_seq_length;
  if (t.seq_length < 1 || t.seq_length > kMaxSeq)
    throw ConfigError("seq_length", s(t.seq_length), "must be between 1 and " + s(kMaxSeq));
  if (sc.model) {
    validate(*sc.model);
    auto& m = *sc.model;
    if (m.position_embedding == PositionEmbedding::learned) {
      if (m.max_position_embeddings == 0) m.max_position_embeddings = t.seq_length;
      if (t.seq_length > m.max_position_embeddings)
        throw ConfigError("seq_length", s(t.seq_length),
                          "exceeds the learned position table (max_position_embeddings " +
                              s(m.max_position_embeddings) + ")");
    }
  }
  sc.parallel = resolve(sc.parallel, sc.model ? &*sc.model : nullptr);
  const auto& p = sc.parallel;

  if (t.micro_batch_size < 1 || t.micro_batch_size > kMaxBatch)
    throw ConfigError("micro_batch_size", s(t.micro_batch_size), "must be between 1 and " + s(kMaxBatch));
  if (t.global_batch_size == 0) t.global_batch_size = t.micro_batch_size * p.dp;
  if (t.global_batch_size < 1 || t.global_batch_size > kMaxBatch)
    throw ConfigError("global_batch_size", s(t.global_batch_size), "must be between 1 and " + s(kMaxBatch));
  if (t.global_batch_size % (t.micro_batch_size * p.dp) != 0)
    throw ConfigError("global_batch_size", s(t.global_batch_size),
                      "is not divisible by micro_batch_size * dp = " + s(t.micro_batch_size) + " * " + s(p.dp));
  r.num_microbatches = t.global_batch_size / (t.micro_batch_size * p.dp);
  if (p.vpp > 1 && r.num_microbatches % p.pp != 0)
    throw ConfigError("global_batch_size", s(t.global_batch_size),
                      "gives " + s(r.num_microbatches) + " microbatches, not a multiple of pp = " + s(p.pp) +
                          " as the interleaved schedule requires");

  if (p.sequence_parallel && p.tp > 1 && t.seq_length % p.tp != 0)
    throw ConfigError("seq_length", s(t.seq_length), "sequence_parallel needs it divisible by tp = " + s(p.tp));
  if (p.cp > 1 && t.seq_length % (2 * p.cp) != 0)
    throw ConfigError("seq_length", s(t.seq_length),
                      "context parallelism needs it divisible by 2 * cp = " + s(2 * p.cp) + " (load-balanced chunks)");
  if (p.ulysses_sp > 1 && t.seq_length % p.ulysses_sp != 0)
    throw ConfigError("seq_length", s(t.seq_length), "is not divisible by ulysses_sp = " + s(p.ulysses_sp));
  if (t.recompute_num_layers < 0)
    throw ConfigError("recompute_num_layers", s(t.recompute_num_layers), "must not be negative");
  if (t.recompute_granularity == RecomputeGranularity::full && sc.model &&
      t.recompute_num_layers > sc.model->num_layers / p.pp)
    throw ConfigError("recompute_num_layers", s(t.recompute_num_layers),
                      "exceeds the layers per pipeline stage (" + s(sc.model->num_layers / p.pp) + ")");
  r.scenario = std::move(sc);
  return r;
}

}  // namespace trainmem::sim
