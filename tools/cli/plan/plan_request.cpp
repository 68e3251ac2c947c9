// The plan options and the search request of `trainmem plan` (plan_request.hpp).
#include "tools/cli/plan/plan_request.hpp"

#include <cmath>

#include "partition/error.hpp"
#include "tools/cli/command_line.hpp"
#include "tools/cli/output_file.hpp"
#include "tools/inputs/value_parse.hpp"

namespace trainmem::tools {
namespace {

// Takes `--NAME` / `--NAME=true|false` out of args.
bool take_switch(std::vector<std::string>& args, const std::string& name) {
  bool on = false;
  for (std::size_t i = 0; i < args.size();) {
    if (args[i] == "--" + name) {
      on = true;
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (args[i].rfind("--" + name + "=", 0) == 0) {
      on = parse_bool(name, args[i].substr(name.size() + 3));
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return on;
}

// "10%", "12.5%" (percent) or "0.1" (a fraction), in [0, 100%).
std::uint32_t parse_margin(const std::string& text) {
  std::string t = text;
  const bool percent = !t.empty() && t.back() == '%';
  if (percent) t.pop_back();
  const bool shape_ok =
      !t.empty() && t.find_first_not_of("0123456789.") == std::string::npos && t.find('.') == t.rfind('.');
  double v = -1;
  if (shape_ok) v = std::stod(t);
  if (percent) v /= 100.0;
  if (!shape_ok || !(v >= 0.0 && v < 1.0))
    throw ConfigError("safety_margin", text, "must be a percentage below 100% (10%) or a fraction below 1 (0.1)");
  return static_cast<std::uint32_t>(std::lround(v * 1e6));
}

}  // namespace

PlanFlags take_plan_flags(std::vector<std::string>& args) {
  PlanFlags f;
  auto integer = [&](const char* name, const char* field, std::int64_t lo,
                     std::int64_t hi) -> std::optional<std::int64_t> {
    if (auto v = take_flag_value(args, name)) return parse_int(field, *v, lo, hi);
    return std::nullopt;
  };
  if (auto v = integer("gpus-per-node", "gpus_per_node", 1, 1024)) f.gpus_per_node = *v, f.gpus_per_node_flag = *v;
  f.max_gpus = integer("max-gpus", "max_gpus", 1, 1 << 24);
  f.num_gpus = integer("num-gpus", "num_gpus", 1, 1 << 24);
  if (auto v = integer("top", "top", 1, 100000)) f.top = static_cast<std::size_t>(*v);
  if (auto v = integer("max-micro-batch-size", "max_micro_batch_size", 1, 1 << 20)) f.max_mbs = *v;
  if (auto v = integer("max-cp", "max_cp", 1, 1 << 20)) f.max_cp = *v;
  if (auto v = integer("max-ulysses-sp", "max_ulysses_sp", 1, 1 << 20)) f.max_ulysses = *v;
  if (auto v = take_flag_value(args, "safety-margin")) f.margin_ppm = parse_margin(*v);
  f.html = take_path_flag(args, "html");
  f.min_gpus = take_switch(args, "min-gpus");
  f.why_not = take_switch(args, "why-not");
  f.uneven = take_switch(args, "uneven-pp");
  // A bound on the uneven splits asks for them.
  if (auto v = integer("uneven-max-delta", "uneven_max_delta", 0, 1 << 20)) f.uneven_delta = *v, f.uneven = true;
  f.hsdp_search = take_switch(args, "hsdp-search");
  f.simulate = !take_switch(args, "no-simulate");
  if (auto v = take_flag_value(args, "offload-search")) {
    const std::string t = parse_choice("offload_search", *v, {"none", "cpu", "nvme"});
    f.offload_search = t == "cpu"    ? sim::OffloadDevice::cpu
                       : t == "nvme" ? sim::OffloadDevice::nvme
                                     : sim::OffloadDevice::none;
  }
  if (auto v = take_flag_value(args, "host-memory-per-node")) f.host_memory = parse_size("host_memory_per_node", *v);
  if (auto v = take_flag_value(args, "nvme-per-node")) f.nvme = parse_size("nvme_per_node", *v);
  if (f.min_gpus && f.num_gpus)
    throw ConfigError("num_gpus", std::to_string(*f.num_gpus), "fixes the GPU count; --min-gpus searches for it");
  return f;
}

sim::PlanRequest plan_request(const Settings& settings, const BuiltScenario& built, const PlanFlags& f) {
  sim::PlanRequest rq;
  rq.base = built.scenario;
  rq.gpus_per_node = f.gpus_per_node;
  // Without --gpus-per-node, a scenario's gpus_per_node (the per-node totals' node size) is the node size.
  if (!f.gpus_per_node_flag && settings.count("gpus_per_node") != 0) rq.gpus_per_node = built.scenario.gpus_per_node;
  rq.offload_search = f.offload_search;
  rq.host_memory_per_node = f.host_memory;
  rq.nvme_per_node = f.nvme;
  if (f.max_gpus) rq.max_gpus = *f.max_gpus;
  rq.num_gpus = f.num_gpus;
  rq.safety_margin_ppm = f.margin_ppm;
  rq.max_micro_batch_size = f.max_mbs;
  rq.max_cp = f.max_cp;
  rq.uneven_splits = f.uneven;
  rq.uneven_max_delta = f.uneven_delta;
  rq.max_ulysses_sp = f.max_ulysses;
  rq.search_shard_groups = f.hsdp_search;
  const auto& p = built.scenario.parallel;
  const auto& t = built.scenario.training;
  auto has = [&](const char* key) { return settings.count(key) != 0; };
  auto& k = rq.fixed;
  if (has("tensor_model_parallel_size")) k.tp = p.tp;
  if (has("pipeline_model_parallel_size")) k.pp = p.pp;
  if (has("data_parallel_size")) k.dp = p.dp;
  if (has("context_parallel_size")) k.cp = p.cp;
  if (has("expert_model_parallel_size")) k.ep = p.ep;
  if (has("expert_tensor_parallel_size")) k.etp = p.etp;
  if (has("virtual_pipeline_model_parallel_size")) k.vpp = p.vpp;
  if (has("sequence_parallel")) k.sequence_parallel = p.sequence_parallel;
  if (has("zero_stage")) k.zero_stage = p.zero_stage;
  if (has("micro_batch_size")) k.micro_batch_size = t.micro_batch_size;
  if (has("recompute_granularity")) k.recompute_granularity = t.recompute_granularity;
  if (has("recompute_method")) k.recompute_method = t.recompute_method;
  if (has("recompute_num_layers")) k.recompute_num_layers = t.recompute_num_layers;
  if (has("ulysses_sp")) k.ulysses_sp = p.ulysses_sp;
  // A shard group (--shard-group-size, or an accelerate HYBRID_SHARD file) is fixed: dp a multiple of it.
  if (p.shard_group_size != 0) k.shard_group_size = p.shard_group_size;
  // Offload set by a flag, the YAML or a ds_config fixes its knob.
  const auto& off = built.scenario.offload;
  if (has("offload_optimizer") || off.optimizer != sim::OffloadDevice::none) k.offload_optimizer = off.optimizer;
  if (has("offload_param") || off.param != sim::OffloadDevice::none) k.offload_param = off.param;
  if (has("offload_activation_checkpoints") || off.activation_checkpoints)
    k.offload_checkpoints = off.activation_checkpoints;
  if (has("world_size")) {
    if (f.num_gpus && *f.num_gpus != p.world_size)
      throw ConfigError("world_size", std::to_string(p.world_size),
                        "differs from --num-gpus " + std::to_string(*f.num_gpus));
    if (f.min_gpus)
      throw ConfigError("world_size", std::to_string(p.world_size), "fixes the GPU count; --min-gpus searches for it");
    rq.num_gpus = p.world_size;
  }
  return rq;
}

}  // namespace trainmem::tools
