// The wire of the `mpirun` split of `trainmem plan` (plan_wire.hpp).
#include "tools/cli/plan/plan_wire.hpp"

#include <nlohmann/json.hpp>

#include "tools/report/plan/plan_report.hpp"

namespace trainmem::tools {
namespace {

using nlohmann::json;

sim::OffloadDevice device_of(const std::string& name) {
  return name == "cpu" ? sim::OffloadDevice::cpu : name == "nvme" ? sim::OffloadDevice::nvme : sim::OffloadDevice::none;
}

// Entries travel between ranks as JSON (exact integers; doubles round-trip).
json entry_wire(const sim::PlanEntry& e) {
  json j = layout_json(e.layout);
  j["etp"] = e.layout.etp;
  j["num_microbatches"] = e.num_microbatches;
  j["max_peak_bytes"] = e.max_peak.value;
  j["lower_peak_bytes"] = e.lower_peak.value;
  j["base"] = e.base;
  j["cost"] = cost_json(e.cost, true);
  add_offload_json(j, e.layout);
  j["host_bytes_per_node"] = e.host_per_node.value;
  j["nvme_bytes_per_node"] = e.nvme_per_node.value;
  return j;
}

sim::PlanEntry entry_from_wire(const json& j) {
  sim::PlanEntry e;
  auto& l = e.layout;
  l.tp = j.at("tp"), l.pp = j.at("pp"), l.dp = j.at("dp"), l.cp = j.at("cp"), l.ep = j.at("ep"), l.etp = j.at("etp");
  l.vpp = j.at("vpp"), l.micro_batch_size = j.at("micro_batch_size");
  l.zero_stage = j.at("zero_stage");
  l.sequence_parallel = j.at("sequence_parallel");
  const std::string g = j.at("recompute_granularity");
  l.recompute_granularity = g == "full"        ? sim::RecomputeGranularity::full
                            : g == "selective" ? sim::RecomputeGranularity::selective
                                               : sim::RecomputeGranularity::none;
  l.recompute_method =
      j.at("recompute_method") == "block" ? sim::RecomputeMethod::block : sim::RecomputeMethod::uniform;
  l.recompute_num_layers = j.at("recompute_num_layers");
  l.first_stage_layers = j.at("decoder_first_pipeline_num_layers");
  l.last_stage_layers = j.at("decoder_last_pipeline_num_layers");
  l.ulysses_sp = j.at("ulysses_sp");
  const std::int64_t group = j.at("shard_group_size");
  l.shard_group_size = group == l.dp ? 0 : group;
  e.num_microbatches = j.at("num_microbatches");
  e.max_peak = Bytes(j.at("max_peak_bytes").get<std::uint64_t>());
  e.lower_peak = Bytes(j.at("lower_peak_bytes").get<std::uint64_t>());
  e.base = j.at("base");
  const json& c = j.at("cost");
  e.cost = {c.at("bubble"),   c.at("recompute"), c.at("comm"),     c.at("total"),   c.at("tp_bytes"),
            c.at("cp_bytes"), c.at("dp_bytes"),  c.at("pp_bytes"), c.at("ep_bytes")};
  e.cost.ulysses_bytes = c.at("ulysses_bytes"), e.cost.replicate_bytes = c.at("replicate_bytes");
  e.cost.offload = c.at("offload"), e.cost.pcie_bytes = c.at("pcie_bytes"), e.cost.nvme_bytes = c.at("nvme_bytes");
  l.offload_optimizer = device_of(j.at("offload_optimizer"));
  l.offload_param = device_of(j.at("offload_param"));
  l.offload_checkpoints = j.at("offload_activation_checkpoints");
  e.host_per_node = Bytes(j.at("host_bytes_per_node").get<std::uint64_t>());
  e.nvme_per_node = Bytes(j.at("nvme_bytes_per_node").get<std::uint64_t>());
  return e;
}

}  // namespace

std::string result_wire(const sim::PlanResult& r) {
  json j;
  j["layouts"] = json::array();
  for (const auto& e : r.layouts) j["layouts"].push_back(entry_wire(e));
  j["counts"] = counts_json(r.counts, true);
  if (r.closest) j["closest"] = entry_wire(*r.closest);
  if (r.closest_bound) j["closest_bound"] = entry_wire(*r.closest_bound);
  return j.dump();
}

sim::PlanResult result_from_wire(const std::string& text) {
  const json j = json::parse(text);
  sim::PlanResult r;
  for (const auto& e : j.at("layouts")) r.layouts.push_back(entry_from_wire(e));
  const json& c = j.at("counts");
  r.counts = {c.at("candidates"),      c.at("bases"),       c.at("evaluated"),     c.at("pruned_by_bound"),
              c.at("pruned_monotone"), c.at("not_visited"), c.at("fitting_bases"), c.at("fitting_evaluated"),
              c.at("may_fit"),         c.at("over_host")};
  if (j.contains("closest")) r.closest = entry_from_wire(j.at("closest"));
  if (j.contains("closest_bound")) r.closest_bound = entry_from_wire(j.at("closest_bound"));
  return r;
}

}  // namespace trainmem::tools
