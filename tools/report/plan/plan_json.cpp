// `trainmem plan --format json` (schema_version 1): the request, the layouts that fit with their costs and
// reproducing `trainmem estimate` commands, the search counts, the replay of the finalists, and the closest
// layouts when nothing fits; and the JSON pieces of a layout, its cost and the search counts (plan_report.hpp).
#include <string>

#include "partition/model_spec.hpp"
#include "tools/report/plan/plan_lines.hpp"
#include "tools/report/plan/plan_report.hpp"

namespace trainmem::tools {
namespace {

using nlohmann::json;

json replay_json(const sim::ReplayedPeak& r) {
  return json{
      {"simulated_max_peak_bytes", r.peak.value}, {"simulated_peak_stage", r.stage}, {"simulated_peak_event", r.event}};
}

}  // namespace

json layout_json(const sim::PlanLayout& l) {
  return {{"world_size", l.world_size()},
          {"tp", l.tp},
          {"pp", l.pp},
          {"dp", l.dp},
          {"cp", l.cp},
          {"ep", l.ep},
          {"etp", l.etp == 0 ? l.tp : l.etp},
          {"vpp", l.vpp},
          {"zero_stage", l.zero_stage},
          {"sequence_parallel", l.sequence_parallel},
          {"recompute_granularity", sim::recompute_name(l.recompute_granularity)},
          {"recompute_method", l.recompute_method == sim::RecomputeMethod::block ? "block" : "uniform"},
          {"recompute_num_layers", l.recompute_num_layers},
          {"micro_batch_size", l.micro_batch_size},
          {"decoder_first_pipeline_num_layers", l.first_stage_layers},
          {"decoder_last_pipeline_num_layers", l.last_stage_layers},
          {"ulysses_sp", l.ulysses_sp},
          {"shard_group_size", l.shard_group_size == 0 ? l.dp : l.shard_group_size}};
}

void add_offload_json(json& j, const sim::PlanLayout& l) {
  j["offload_optimizer"] = sim::offload_device_name(l.offload_optimizer);
  j["offload_param"] = sim::offload_device_name(l.offload_param);
  j["offload_activation_checkpoints"] = l.offload_checkpoints;
}

json cost_json(const sim::PlanCost& c, bool offload) {
  json j = {{"total", c.total},
            {"bubble", c.bubble},
            {"recompute", c.recompute},
            {"comm", c.comm},
            {"tp_bytes", c.tp_bytes},
            {"cp_bytes", c.cp_bytes},
            {"dp_bytes", c.dp_bytes},
            {"pp_bytes", c.pp_bytes},
            {"ep_bytes", c.ep_bytes},
            {"ulysses_bytes", c.ulysses_bytes},
            {"replicate_bytes", c.replicate_bytes}};
  if (offload) j.update({{"offload", c.offload}, {"pcie_bytes", c.pcie_bytes}, {"nvme_bytes", c.nvme_bytes}});
  return j;
}

json counts_json(const sim::PlanCounts& c, bool offload) {
  json j = {{"candidates", c.candidates},
            {"bases", c.bases},
            {"evaluated", c.evaluated},
            {"pruned_by_bound", c.pruned_by_bound},
            {"pruned_monotone", c.pruned_monotone},
            {"not_visited", c.not_visited},
            {"fitting_bases", c.fitting_bases},
            {"fitting_evaluated", c.fitting},
            {"may_fit", c.may_fit}};
  if (offload) j["over_host"] = c.over_host;
  return j;
}

json plan_json(const PlanReport& report) {
  const sim::Planner& planner = report.planner;
  const sim::PlanRequest& rq = report.request;
  const sim::PlanResult& result = report.result;
  const Bytes budget = planner.budget();
  const Bytes gpu = *rq.base.gpu_memory;
  const auto& rs = planner.resolved_base();
  const bool offload_on = planner.offload_in_space();
  const std::string mode = report.min_gpus ? "min_gpus" : rq.num_gpus ? "num_gpus" : "top";
  const std::vector<PlanRow>& rows = report.rows;
  const std::optional<sim::PlanVerification>& verified = report.verified;
  const std::int64_t answer_world = rows.empty() ? 0 : rows.front().e.layout.world_size();
  json j;
  j["schema_version"] = 1;
  j["command"] = "plan";
  j["mode"] = mode;
  j["config"] = {{"model", rs.scenario.model->name},
                 {"model_source", report.model_source},
                 {"num_parameters", total_parameters(*rs.scenario.model).value},
                 {"seq_length", rs.scenario.training.seq_length},
                 {"global_batch_size", rs.scenario.training.global_batch_size},
                 {"recipe", rs.recipe->name},
                 {"optimizer", rs.optimizer->name},
                 {"gpu", rq.base.gpu_name},
                 {"gpu_memory_bytes", gpu.value},
                 {"safety_margin", rq.safety_margin_ppm / 1e6},
                 {"budget_bytes", budget.value},
                 {"gpus_per_node", rq.gpus_per_node},
                 {"max_gpus", rq.num_gpus ? json(nullptr) : json(rq.max_gpus)},
                 {"num_gpus", rq.num_gpus ? json(*rq.num_gpus) : json(nullptr)}};
  if (offload_on)
    j["config"].update({{"offload_search", sim::offload_device_name(rq.offload_search)},
                        {"host_memory_per_node_bytes", rq.host_memory_per_node.value},
                        {"nvme_per_node_bytes", rq.nvme_per_node.value}});
  j["layouts"] = json::array();
  for (const auto& row : rows) {
    const sim::PlanEntry& e = row.e;
    json l = layout_json(e.layout);
    l["nodes"] =
        e.layout.world_size() % rq.gpus_per_node == 0 ? json(e.layout.world_size() / rq.gpus_per_node) : json(nullptr);
    l["num_microbatches"] = e.num_microbatches;
    l["max_peak_bytes"] = e.max_peak.value;
    if (row.replayed) l.update(replay_json(*row.replayed));
    l["lower_peak_bytes"] = e.lower_peak.value;
    l["fits_by"] = row.fits_only_replayed(budget) ? "replay" : row.replayed ? "estimate and replay" : "estimate";
    l["headroom_bytes"] = (budget - row.verdict()).value;
    l["free_bytes"] = (gpu - row.verdict()).value;
    l["cost"] = cost_json(e.cost, offload_on);
    if (offload_on) {
      add_offload_json(l, e.layout);
      l["host_bytes_per_node"] = e.host_per_node.value;
      l["nvme_bytes_per_node"] = e.nvme_per_node.value;
    }
    const auto a = report.reproduce(e.layout);
    l["estimate_args"] = a;
    l["estimate_command"] = shell_command(a);
    if (row.fits_only_replayed(budget)) l["simulate_command"] = shell_command(reproduce_args(a, true));
    j["layouts"].push_back(l);
  }
  if (report.min_gpus) j["min_gpus"] = answer_world == 0 ? json(nullptr) : json(answer_world);
  j["fits"] = report.fits;
  j["search"] = counts_json(result.counts, offload_on);
  if (verified) {
    json r = {{"finalists", verified->bases_replayed},        {"simulations", verified->replays},
              {"rejected_variants", verified->rejected},      {"rejected_finalists", verified->bases_rejected},
              {"fit_only_replayed", verified->over_estimate}, {"ranking_depth", verified->depth}};
    if (verified->first_rejected) {
      json b = layout_json(verified->first_rejected->entry.layout);
      b["max_peak_bytes"] = verified->first_rejected->entry.max_peak.value;
      b.update(replay_json(verified->first_rejected->replayed));
      b["overflow_bytes"] = (verified->first_rejected->replayed.peak - budget).value;
      r["best_rejected"] = b;
    }
    j["simulated"] = r;
  } else {
    j["simulated"] = nullptr;
  }
  if (result.closest) {
    json c = layout_json(result.closest->layout);
    if (offload_on) add_offload_json(c, result.closest->layout);
    c["max_peak_bytes"] = result.closest->max_peak.value;
    c["overflow_bytes"] = (result.closest->max_peak - budget).value;
    j["closest"] = c;
  }
  if (result.closest_bound) {
    json c = layout_json(result.closest_bound->layout);
    if (offload_on) add_offload_json(c, result.closest_bound->layout);
    c["model_states_bytes"] = result.closest_bound->max_peak.value;
    c["overflow_at_least_bytes"] = (result.closest_bound->max_peak - budget).value;
    j["closest_by_model_states"] = c;
  }
  return j;
}

}  // namespace trainmem::tools
