// JSON output of `trainmem estimate` (schema_version 1, DESIGN.md section 8): exact integer bytes.
#include "tools/report.hpp"

namespace trainmem::tools {

nlohmann::json estimate_json(const sim::EstimateResult& r, const std::string& source) {
  using nlohmann::json;
  const auto& sc = r.resolved.scenario;
  const auto& p = sc.parallel;
  const auto& t = sc.training;
  json config;
  config["model_source"] = source;
  config["num_parameters"] = r.num_parameters.value;
  if (sc.model) {
    const auto& m = *sc.model;
    config["model"] = {{"name", m.name},
                       {"num_layers", m.num_layers},
                       {"hidden_size", m.hidden_size},
                       {"ffn_hidden_size", m.ffn()},
                       {"num_attention_heads", m.num_attention_heads},
                       {"num_query_groups", m.query_groups()},
                       {"kv_channels", m.head_dim()},
                       {"vocab_size", m.vocab_size},
                       {"padded_vocab_size", r.padded_vocab_size},
                       {"max_position_embeddings", m.max_position_embeddings},
                       {"position_embedding_type", position_embedding_name(m.position_embedding)},
                       {"normalization", normalization_name(m.normalization)},
                       {"activation", activation_name(m.activation)},
                       {"tie_embeddings", m.tie_embeddings},
                       {"add_bias_linear", m.add_bias_linear},
                       {"add_qkv_bias", m.add_qkv_bias},
                       {"num_experts", m.num_experts},
                       {"moe_router_topk", m.moe_router_topk},
                       {"moe_ffn_hidden_size", m.is_moe() ? m.expert_ffn() : 0}};
  } else {
    config["model"] = nullptr;
  }
  config["tp"] = p.tp;
  config["pp"] = p.pp;
  config["dp"] = p.dp;
  config["cp"] = p.cp;
  config["ep"] = p.ep;
  config["etp"] = p.etp;
  config["edp"] = p.edp();
  config["vpp"] = p.vpp;
  config["world_size"] = p.world_size;
  config["sequence_parallel"] = p.sequence_parallel;
  config["ulysses_sp"] = p.ulysses_sp;
  config["zero_stage"] = p.zero_stage;
  config["use_distributed_optimizer"] = t.use_distributed_optimizer;
  config["decoder_first_pipeline_num_layers"] = p.first_stage_layers;
  config["decoder_last_pipeline_num_layers"] = p.last_stage_layers;
  config["make_vocab_size_divisible_by"] = p.make_vocab_size_divisible_by;
  config["rank_order"] = "tp-cp-ep-dp-pp";
  config["seq_length"] = t.seq_length;
  config["micro_batch_size"] = t.micro_batch_size;
  config["global_batch_size"] = t.global_batch_size;
  config["num_microbatches"] = r.resolved.num_microbatches;
  config["recipe"] = r.resolved.recipe->name;
  config["optimizer"] = r.resolved.optimizer->name;
  config["bytes_per_parameter"] = sim::bytes_per_parameter(*r.resolved.recipe, *r.resolved.optimizer);
  config["gpu"] = sc.gpu_name.empty() ? json(nullptr) : json(sc.gpu_name);

  json ranks = json::array();
  for (const auto& c : r.classes) {
    json bytes;
    for (auto cat : sim::kMemoryCategories) bytes[std::string(sim::category_name(cat))] = c.bytes[cat].value;
    bytes["peak"] = c.peak.value;
    json terms = json::array();
    for (const auto& term : c.model_states.terms)
      terms.push_back({{"name", term.name},
                       {"category", sim::category_name(term.category)},
                       {"dtype", term.dtype},
                       {"elements", (term.dense_elements + term.expert_elements).value},
                       {"sharded", term.sharded},
                       {"bytes", term.bytes.value}});
    ranks.push_back({{"ranks", c.ranks},
                     {"pp_ranks", c.pp_ranks},
                     {"pp_rank", c.coords.pp},
                     {"tp_rank", c.coords.tp},
                     {"dp_rank", c.coords.dp},
                     {"cp_rank", c.coords.cp},
                     {"ep_rank", c.coords.ep},
                     {"num_layers", c.num_layers},
                     {"parameters", c.shard.total().value},
                     {"dense_parameters", c.shard.dense.value},
                     {"expert_parameters", c.shard.expert.value},
                     {"bytes", bytes},
                     {"model_state_terms", terms}});
  }
  json out;
  out["schema_version"] = 1;
  out["tool"] = "trainmem";
  out["version"] = kVersion;
  out["command"] = "estimate";
  out["config"] = config;
  out["world_size"] = r.world_size;
  out["ranks"] = ranks;
  out["max_peak_bytes"] = r.max_peak.value;
  out["max_peak_class"] = r.max_peak_class;
  out["gpu_memory_bytes"] = r.gpu_memory ? json(r.gpu_memory->value) : json(nullptr);
  out["fits"] = r.fits ? json(*r.fits) : json(nullptr);
  out["not_modelled"] = {"activations", "buffers", "temporaries", "runtime"};
  return out;
}

}  // namespace trainmem::tools
