// The reproducing `trainmem estimate` arguments of a plan layout (plan_reproduce.hpp).
#include "tools/cli/plan/plan_reproduce.hpp"

#include "tools/inputs/value_parse.hpp"

namespace trainmem::tools {
namespace {

// Settings that are layout knobs: given on the command line (or in the YAML) they fix the knob.
constexpr const char* kKnobKeys[] = {"tensor_model_parallel_size",
                                     "pipeline_model_parallel_size",
                                     "data_parallel_size",
                                     "world_size",
                                     "context_parallel_size",
                                     "expert_model_parallel_size",
                                     "expert_tensor_parallel_size",
                                     "virtual_pipeline_model_parallel_size",
                                     "sequence_parallel",
                                     "zero_stage",
                                     "use_distributed_optimizer",
                                     "micro_batch_size",
                                     "recompute_granularity",
                                     "recompute_method",
                                     "recompute_num_layers",
                                     "decoder_first_pipeline_num_layers",
                                     "decoder_last_pipeline_num_layers",
                                     "ulysses_sp",
                                     "shard_group_size",
                                     "offload_optimizer",
                                     "offload_param",
                                     "offload_activation_checkpoints"};

bool is_knob(const std::string& key) {
  for (const char* k : kKnobKeys)
    if (key == k) return true;
  return false;
}

// The model/training part of the reproducing `trainmem estimate` command: the scenario file and every
// command-line setting that is not a layout knob or an output choice.
std::vector<std::string> base_args(const CommandLine& cl) {
  std::vector<std::string> a;
  if (cl.scenario_path) a.push_back(*cl.scenario_path);
  for (const auto& [key, value] : cl.settings) {
    if (is_knob(key) || key == "format" || key == "explain") continue;
    const OptionSpec* spec = find_option(key);
    if (spec != nullptr && spec->kind == OptionKind::boolean) {
      a.push_back(flag_of(key) + (parse_bool(key, value.text) ? "" : "=false"));
    } else {
      a.push_back(flag_of(key));
      a.push_back(value.text);
    }
  }
  return a;
}

std::vector<std::string> estimate_args(const std::vector<std::string>& base, const sim::PlanLayout& l,
                                       bool explicit_all, std::int64_t gpus_per_node) {
  std::vector<std::string> a = {"estimate"};
  a.insert(a.end(), base.begin(), base.end());
  const auto flags = sim::layout_flags(l);
  a.insert(a.end(), flags.begin(), flags.end());
  // Offload: estimate's per-node host/NVMe totals group ranks by the plan's node size.
  if (l.offloads() && gpus_per_node > 0) a.insert(a.end(), {"--gpus-per-node", std::to_string(gpus_per_node)});
  if (explicit_all) {  // a scenario file may set knobs the short form leaves at their defaults
    auto s = [](std::int64_t v) { return std::to_string(v); };
    if (l.cp == 1) a.insert(a.end(), {"--cp", "1"});
    if (l.ep == 1) a.insert(a.end(), {"--ep", "1"});
    if (l.vpp == 1) a.insert(a.end(), {"--vpp", "1"});
    if (!l.sequence_parallel) a.emplace_back("--sequence-parallel=false");
    a.emplace_back("--use-distributed-optimizer=false");
    if (l.recompute_granularity == sim::RecomputeGranularity::none)
      a.insert(a.end(), {"--recompute-granularity", "none"});
    if (l.recompute_granularity != sim::RecomputeGranularity::full) a.insert(a.end(), {"--recompute-num-layers", s(0)});
  }
  return a;
}
}  // namespace

EstimateArgs estimate_args_for(const CommandLine& cl, std::int64_t gpus_per_node) {
  return [base = base_args(cl), explicit_all = cl.scenario_path.has_value(), gpus_per_node](const sim::PlanLayout& l) {
    return estimate_args(base, l, explicit_all, gpus_per_node);
  };
}

}  // namespace trainmem::tools
