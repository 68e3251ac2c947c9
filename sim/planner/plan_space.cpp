#include "sim/planner/plan_space.hpp"

#include "partition/error.hpp"

namespace trainmem::sim {

Bytes plan_budget(Bytes gpu_memory, std::uint32_t ppm) {
  if (ppm >= 1000000) throw ConfigError("safety_margin", std::to_string(ppm / 10000.0) + "%", "must be below 100%");
  // ceil(memory * ppm / 1e6) without overflow: memory = q * 1e6 + r.
  const std::uint64_t q = gpu_memory.value / 1000000, r = gpu_memory.value % 1000000;
  const std::uint64_t reserve = detail::checked_mul(q, ppm, "safety margin") + detail::ceil_div(r * ppm, 1000000);
  return Bytes(gpu_memory.value - reserve);
}

Scenario scenario_for(const PlanRequest& request, const PlanLayout& l) {
  Scenario sc = request.base;
  ParallelConfig& p = sc.parallel;
  p.tp = l.tp;
  p.pp = l.pp;
  p.dp = l.dp;
  p.world_size = 0;
  p.cp = l.cp;
  p.ep = l.ep;
  p.etp = l.etp;
  p.vpp = l.vpp;
  p.sequence_parallel = l.sequence_parallel;
  p.zero_stage = l.zero_stage;
  p.first_stage_layers = l.first_stage_layers;
  p.last_stage_layers = l.last_stage_layers;
  p.ulysses_sp = l.ulysses_sp;
  p.shard_group_size = l.shard_group_size;
  sc.training.use_distributed_optimizer = false;  // the layout's zero_stage says it
  sc.training.micro_batch_size = l.micro_batch_size;
  sc.training.recompute_granularity = l.recompute_granularity;
  sc.training.recompute_method = l.recompute_method;
  sc.training.recompute_num_layers = l.recompute_num_layers;
  sc.offload.optimizer = l.offload_optimizer;
  sc.offload.param = l.offload_param;
  sc.offload.activation_checkpoints = l.offload_checkpoints;
  sc.gpus_per_node = request.gpus_per_node;
  return sc;
}

PlanLayout layout_of_scenario(const Scenario& sc) {
  const ParallelConfig& p = sc.parallel;
  const TrainingConfig& t = sc.training;
  PlanLayout l;
  l.tp = p.tp, l.pp = p.pp, l.dp = p.dp, l.cp = p.cp, l.ep = p.ep, l.etp = p.etp == p.tp ? 0 : p.etp, l.vpp = p.vpp;
  l.micro_batch_size = t.micro_batch_size;
  l.sequence_parallel = p.sequence_parallel;
  l.zero_stage = p.zero_stage;
  l.recompute_granularity = t.recompute_granularity;
  l.recompute_method = t.recompute_method;
  l.recompute_num_layers = t.recompute_num_layers;
  l.first_stage_layers = p.first_stage_layers;
  l.last_stage_layers = p.last_stage_layers;
  l.ulysses_sp = p.ulysses_sp;
  l.shard_group_size = p.hybrid_shard() ? p.shard_group_size : 0;
  l.offload_optimizer = sc.offload.optimizer;
  l.offload_param = sc.offload.param;
  l.offload_checkpoints = sc.offload.activation_checkpoints;
  return l;
}

std::string_view recompute_name(RecomputeGranularity g) {
  switch (g) {
    case RecomputeGranularity::none: return "none";
    case RecomputeGranularity::selective: return "selective";
    case RecomputeGranularity::full: return "full";
  }
  return "none";
}

std::vector<std::string> layout_flags(const PlanLayout& l) {
  auto s = [](std::int64_t v) { return std::to_string(v); };
  std::vector<std::string> f = {"--tp", s(l.tp), "--pp", s(l.pp), "--dp", s(l.dp)};
  if (l.cp != 1) f.insert(f.end(), {"--cp", s(l.cp)});
  if (l.ep != 1) f.insert(f.end(), {"--ep", s(l.ep)});
  if (l.etp != 0 && l.etp != l.tp) f.insert(f.end(), {"--etp", s(l.etp)});
  if (l.vpp != 1) f.insert(f.end(), {"--vpp", s(l.vpp)});
  if (l.first_stage_layers != 0) f.insert(f.end(), {"--decoder-first-pipeline-num-layers", s(l.first_stage_layers)});
  if (l.last_stage_layers != 0) f.insert(f.end(), {"--decoder-last-pipeline-num-layers", s(l.last_stage_layers)});
  if (l.ulysses_sp != 1) f.insert(f.end(), {"--ulysses-sp", s(l.ulysses_sp)});
  if (l.shard_group_size != 0) f.insert(f.end(), {"--shard-group-size", s(l.shard_group_size)});
  if (l.sequence_parallel) f.emplace_back("--sequence-parallel");
  f.insert(f.end(), {"--zero-stage", s(l.zero_stage), "--micro-batch-size", s(l.micro_batch_size)});
  if (l.recompute_granularity != RecomputeGranularity::none)
    f.insert(f.end(), {"--recompute-granularity", std::string(recompute_name(l.recompute_granularity))});
  if (l.recompute_granularity == RecomputeGranularity::full)
    f.insert(f.end(), {"--recompute-method", l.recompute_method == RecomputeMethod::block ? "block" : "uniform",
                       "--recompute-num-layers", s(l.recompute_num_layers)});
  if (l.offload_optimizer != OffloadDevice::none)
    f.insert(f.end(), {"--offload-optimizer", std::string(offload_device_name(l.offload_optimizer))});
  if (l.offload_param != OffloadDevice::none)
    f.insert(f.end(), {"--offload-param", std::string(offload_device_name(l.offload_param))});
  if (l.offload_checkpoints) f.emplace_back("--offload-activation-checkpoints");
  return f;
}

}  // namespace trainmem::sim
