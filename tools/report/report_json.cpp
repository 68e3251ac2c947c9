// JSON output of `trainmem estimate` (schema_version 1, DESIGN.md section 8): exact integer bytes.
#include "tools/report/explain_buffers.hpp"
#include "tools/report/report.hpp"
#include "tools/report/report_framework.hpp"
#include "tools/report/report_inference.hpp"
#include "tools/report/report_lora.hpp"

namespace trainmem::tools {
namespace {
nlohmann::json tensors_json(const std::vector<sim::SavedTensor>& tensors) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : tensors)
    out.push_back({{"name", t.name},
                   {"shape", t.shape},
                   {"split", t.split},
                   {"dtype", t.dtype},
                   {"elements", t.elements.value},
                   {"bytes", t.bytes.value}});
  return out;
}

nlohmann::json extras_json(const sim::StageExtras& e, std::int64_t inflight) {
  return {{"inflight_microbatches", inflight},
          {"bytes_per_microbatch", e.saved_bytes.value},
          {"bytes", (e.saved_bytes * static_cast<std::uint64_t>(inflight)).value},
          {"tensors", tensors_json(e.saved)},
          {"transient", tensors_json(e.transient)},
          {"transient_bytes", e.transient_bytes.value}};
}

// Per rank class: how the `activations` and `temporaries` numbers are built, all exact integers except
// inflight_microbatches (chunk forwards / vpp).
nlohmann::json activations_json(const sim::StageActivations& a) {
  using nlohmann::json;
  return {
      {"layers", a.num_layers},
      {"layers_per_chunk", a.layers_per_chunk},
      {"vpp", a.inflight.vpp},
      {"per_layer_bytes", a.layer_bytes.value},
      {"checkpoint_bytes", a.checkpoint_bytes.value},
      {"recomputed_layers_per_chunk", a.recomputed_layers_per_chunk},
      {"checkpoints_per_chunk", a.checkpoints_per_chunk},
      {"chunk_bytes_per_microbatch", a.chunk_bytes.value},
      {"inflight_chunk_forwards", a.inflight.chunk_forwards},
      {"inflight_per_chunk", a.inflight.per_chunk},
      {"inflight_microbatches", static_cast<double>(a.inflight.chunk_forwards) / static_cast<double>(a.inflight.vpp)},
      {"layers_bytes", a.layers_total.value},
      {"first_stage_extras", a.first_stage ? extras_json(a.first, a.first_inflight) : json(nullptr)},
      {"last_stage_extras", a.last_stage ? extras_json(a.last, a.last_inflight) : json(nullptr)},
      {"extras_bytes", a.extras_total.value},
      {"total_bytes", a.total.value},
      {"temporaries",
       {{"recompute_transient", a.recompute_transient.value},
        {"cp_exchange", a.cp_exchange.value},
        {"loss_transient", a.loss_transient.value},
        {"bytes", a.temporaries.value}}}};
}

// Offload and runtime figures of one rank class (docs/offload.md, docs/runtime-memory.md).
void add_offload_runtime(nlohmann::json& j, const sim::RankClass& c) {
  using nlohmann::json;
  const auto& rt = c.runtime;
  j["runtime_detail"] = {
      {"cuda_context", rt.cuda_context.value},   {"nccl", rt.nccl.value},
      {"workspaces", rt.workspaces.value},       {"allocator_rounding", rt.allocator_rounding.value},
      {"fragmentation", rt.fragmentation.value}, {"fragmentation_high", rt.fragmentation_high.value}};
  json comms = json::array();
  for (const auto& cm : rt.comms)
    comms.push_back({{"group", cm.group},
                     {"size", cm.size},
                     {"pattern", cm.pattern == sim::CommPattern::ring  ? "ring"
                                 : cm.pattern == sim::CommPattern::p2p ? "p2p"
                                                                       : "all_to_all"},
                     {"channels", cm.channels},
                     {"connections", cm.connections},
                     {"bytes", cm.bytes.value}});
  j["nccl_communicators"] = comms;
  j["allocated"] = c.allocated.value;
  j["reserved"] = c.reserved.value;
  // The upper end for variable-length batches (docs/runtime-memory.md, "Reserved vs allocated").
  j["reserved_high"] = (c.reserved - rt.fragmentation + rt.fragmentation_high).value;
  j["safe_budget"] = c.safe_budget ? json(c.safe_budget->value) : json(nullptr);
  json host_terms = json::array(), nvme_terms = json::array(), gpu_terms = json::array();
  for (const auto& t : c.offload.terms) {
    json term = {{"name", t.name}, {"bytes", t.bytes.value}, {"why", t.why}};
    if (t.target == sim::OffloadTarget::host) term["pinned"] = t.pinned;
    (t.target == sim::OffloadTarget::host   ? host_terms
     : t.target == sim::OffloadTarget::nvme ? nvme_terms
                                            : gpu_terms)
        .push_back(term);
  }
  j["host"] = {{"bytes", c.offload.host.value}, {"pinned_bytes", c.offload.host_pinned.value}, {"terms", host_terms}};
  j["nvme"] = {{"bytes", c.offload.nvme.value}, {"terms", nvme_terms}};
  j["gpu_staging"] = {{"bytes", c.offload.gpu_staging.value}, {"terms", gpu_terms}};
  json removed;
  for (auto cat : sim::kMemoryCategories)
    if (c.offload.gpu_removed[cat].value > 0)
      removed[std::string(sim::category_name(cat))] = c.offload.gpu_removed[cat].value;
  j["offloaded_from_gpu"] = removed.is_null() ? json::object() : removed;
}
}  // namespace

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
  config["shard_group_size"] = p.shard_group_size;
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
  config["attention"] = t.attention == sim::AttentionKernel::eager ? "eager" : "flash";
  config["attention_dropout"] = t.attention_dropout.value_or(0.0);
  config["hidden_dropout"] = t.hidden_dropout.value_or(0.0);
  config["recompute_granularity"] = t.recompute_granularity == sim::RecomputeGranularity::full        ? "full"
                                    : t.recompute_granularity == sim::RecomputeGranularity::selective ? "selective"
                                                                                                      : "none";
  config["recompute_method"] = t.recompute_method == sim::RecomputeMethod::block ? "block" : "uniform";
  config["recompute_num_layers"] = t.recompute_num_layers;
  config["pipeline_schedule"] = t.pipeline_schedule == sim::PipelineScheduleOption::gpipe ? "gpipe"
                                : p.vpp > 1                                               ? "interleaved-1f1b"
                                                                                          : "1f1b";
  config["moe_expert_capacity_factor"] = t.moe_capacity_factor ? json(*t.moe_capacity_factor) : json(nullptr);
  config["fused_linear_cross_entropy"] = t.fused_linear_cross_entropy;
  config["activation_bytes_per_element"] = r.activation_bytes;
  config["offload_optimizer"] = sim::offload_device_name(sc.offload.optimizer);
  config["offload_param"] = sim::offload_device_name(sc.offload.param);
  config["offload_activation_checkpoints"] = sc.offload.activation_checkpoints;
  config["offload_pin_memory"] = sc.offload.pin_memory;
  config["gpus_per_node"] = sc.gpus_per_node;
  const auto& rc = sc.runtime;
  config["runtime"] = {{"enabled", rc.enabled},
                       {"cuda_context", rc.cuda_context.value},
                       {"nccl_buffsize", rc.nccl_buffsize.value},
                       {"nccl_channels", rc.nccl_channels},
                       {"nccl_p2p_channels", rc.nccl_p2p_channels},
                       {"cublas_workspace", rc.cublas_workspace.value},
                       {"attention_workspace", rc.attention_workspace.value},
                       {"allocator_rounding", rc.allocator_rounding},
                       {"allocator_fragmentation", static_cast<double>(rc.fragmentation_ppm) / 1e6}};

  json ranks = json::array();
  for (const auto& c : r.classes) {
    json bytes;
    for (auto cat : sim::kMemoryCategories) bytes[std::string(sim::category_name(cat))] = c.bytes[cat].value;
    bytes["kv_cache"] = c.kv_cache.value;  // inference only; 0 for training
    bytes["peak"] = c.peak.value;
    json terms = json::array();
    for (const auto& term : c.model_states.terms)
      terms.push_back({{"name", term.name},
                       {"category", sim::category_name(term.category)},
                       {"dtype", term.dtype},
                       {"elements", (term.dense_elements + term.expert_elements).value},
                       {"sharded", term.sharded},
                       {"bytes", term.bytes.value}});
    json activations = nullptr;
    if (c.activations) activations = activations_json(*c.activations);
    json entry = {{"ranks", c.ranks},
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
                  {"model_state_terms", terms},
                  {"activations", activations},
                  {"buffers", buffers_json(c, sc)}};
    add_offload_runtime(entry, c);
    ranks.push_back(entry);
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
  // The settings that resolve but are likely a mistake (the same lines stderr gets as "trainmem: warning:").
  out["warnings"] = r.resolved.warnings;
  out["per_node"] = {{"gpus_per_node", r.per_node.gpus_per_node},
                     {"num_nodes", r.per_node.num_nodes},
                     {"gpu_bytes", r.per_node.gpu.value},
                     {"host_bytes", r.per_node.host.value},
                     {"host_pinned_bytes", r.per_node.host_pinned.value},
                     {"nvme_bytes", r.per_node.nvme.value}};
  const bool runtime_on = sc.runtime.enabled;
  if (sc.model) {
    out["not_modelled"] = runtime_on ? json::array() : json::array({"runtime"});
    out["partially_modelled"] = {
        {"temporaries",
         "recompute, context-parallel K/V exchange, logits, activation-gradient and ZeRO-3 gradient transients "
         "(docs/activations.md, docs/simulator.md)"}};
  } else {
    // A bare parameter count has no layer structure: no activation model applies.
    out["not_modelled"] = runtime_on ? json::array({"activations", "buffers", "temporaries"})
                                     : json::array({"activations", "buffers", "temporaries", "runtime"});
  }
  if (runtime_on)
    out["partially_modelled"]["runtime"] =
        "defaults not GPU-calibrated: CUDA context, NCCL channels, fragmentation reserve (docs/runtime-memory.md)";
  add_inference_json(out, r);
  add_lora_json(out, r);
  add_framework_json(out, r);
  return out;
}

}  // namespace trainmem::tools
