#include "tools/cli/plan_cli.hpp"

#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "partition/error.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/engine/simulate.hpp"
#include "sim/planner/plan_verify.hpp"
#include "sim/planner/planner.hpp"
#include "tools/cli/cli.hpp"
#include "tools/cli/command_line.hpp"
#include "tools/cli/plan_ranks.hpp"
#include "tools/inputs/ecosystem_inputs.hpp"
#include "tools/inputs/scenario_builder.hpp"
#include "tools/inputs/scenario_file.hpp"
#include "tools/inputs/value_parse.hpp"
#include "tools/report/format.hpp"
#include "tools/report/report.hpp"

namespace trainmem::tools {
namespace {

using nlohmann::json;

constexpr const char* kPlanHelp =
    "usage: trainmem plan [scenario.yaml] [options] [plan options]\n"
    "\n"
    "Searches the layouts (tp, pp, vpp, cp, dp, ep, zero_stage, sequence_parallel, recompute, micro_batch_size)\n"
    "whose fullest rank fits the device with a safety margin, and ranks them: fewest GPUs first, then the cost\n"
    "proxy (relative step time: (1 + recompute) x (1 + bubble) + communication; docs/planner.md).\n"
    "Needs a layered model, --global-batch-size and --gpu or --gpu-memory. A layout flag fixes that knob\n"
    "(--tp 8 searches only tp 8); --world-size is the same as --num-gpus. Every peak equals `trainmem estimate`.\n"
    "Under `mpirun -np N trainmem plan ...` the search is split over the ranks; rank 0 prints the same answer.\n"
    "\n"
    "Plan options:\n"
    "  --min-gpus              the smallest cluster that fits: its size and best layouts on it\n"
    "  --num-gpus N            the best layouts on exactly N GPUs\n"
    "  --max-gpus N            largest world size searched (default 4096)\n"
    "  --gpus-per-node N       GPUs per node (default 8); tp divides it; world sizes are whole nodes\n"
    "                          or divide one node\n"
    "  --safety-margin M       device memory kept free: 10% (default), 0.15 or 15%\n"
    "  --top N                 layouts printed (default 10)\n"
    "  --max-micro-batch-size N  micro batch sizes searched: powers of two up to N (default 16)\n"
    "  --max-cp N              context parallel sizes searched: powers of two up to N (default 64)\n"
    "  --uneven-pp             also search uneven pipeline splits (any pp; first and last stage no fuller\n"
    "                          than a middle one; --decoder-first/last-pipeline-num-layers fix one)\n"
    "  --why-not               for the layout given by the usual flags: does it fit, which rank overflows,\n"
    "                          by how much, in which category, and the cheapest single-knob change that fits\n"
    "  --no-simulate           rank by estimate() alone: do not replay the finalists (and --why-not's layout\n"
    "                          and fixes) with the simulator, which adds ZeRO-3 gathers and DeepSpeed buckets\n"
    "  --offload-search T      also search offload up to tier T: none (default), cpu (optimizer states at\n"
    "                          ZeRO >= 1, parameters at ZeRO-3, full-recompute checkpoints, to host RAM) or\n"
    "                          nvme (also optimizer states and parameters to NVMe, ZeRO-3); --offload-optimizer,\n"
    "                          --offload-param, --offload-activation-checkpoints fix their knob instead\n"
    "  --host-memory-per-node S  host RAM a node offers offload (default 2TiB, a DGX H100); a layout whose\n"
    "                          per-node host bytes exceed it does not fit\n"
    "  --nvme-per-node S       NVMe a node offers offload (default 30.72TB, a DGX H100's 8 x 3.84 TB)\n"
    "\n";

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
                                     "offload_optimizer",
                                     "offload_param",
                                     "offload_activation_checkpoints"};

bool is_knob(const std::string& key) {
  for (const char* k : kKnobKeys)
    if (key == k) return true;
  return false;
}

struct PlanFlags {
  std::int64_t gpus_per_node = 8;
  std::optional<std::int64_t> max_gpus, num_gpus;
  bool min_gpus = false, why_not = false, uneven = false, simulate = true;
  std::uint32_t margin_ppm = 100000;
  std::size_t top = 10;
  std::int64_t max_mbs = 16, max_cp = 64;
  std::optional<std::int64_t> gpus_per_node_flag;  // given with --gpus-per-node
  sim::OffloadDevice offload_search = sim::OffloadDevice::none;
  Bytes host_memory = Bytes(sim::kDefaultHostMemoryPerNode), nvme = Bytes(sim::kDefaultNvmePerNode);
};

// Takes `--NAME VALUE` / `--NAME=VALUE` out of args.
std::optional<std::string> take_value(std::vector<std::string>& args, const std::string& name) {
  std::optional<std::string> value;
  for (std::size_t i = 0; i < args.size();) {
    if (args[i] == "--" + name) {
      if (i + 1 >= args.size()) throw ConfigError(name, "(missing)", "needs a value");
      value = args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    } else if (args[i].rfind("--" + name + "=", 0) == 0) {
      value = args[i].substr(name.size() + 3);
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return value;
}

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

PlanFlags take_plan_flags(std::vector<std::string>& args) {
  PlanFlags f;
  auto integer = [&](const char* name, const char* field, std::int64_t lo,
                     std::int64_t hi) -> std::optional<std::int64_t> {
    if (auto v = take_value(args, name)) return parse_int(field, *v, lo, hi);
    return std::nullopt;
  };
  if (auto v = integer("gpus-per-node", "gpus_per_node", 1, 1024)) f.gpus_per_node = *v, f.gpus_per_node_flag = *v;
  f.max_gpus = integer("max-gpus", "max_gpus", 1, 1 << 24);
  f.num_gpus = integer("num-gpus", "num_gpus", 1, 1 << 24);
  if (auto v = integer("top", "top", 1, 100000)) f.top = static_cast<std::size_t>(*v);
  if (auto v = integer("max-micro-batch-size", "max_micro_batch_size", 1, 1 << 20)) f.max_mbs = *v;
  if (auto v = integer("max-cp", "max_cp", 1, 1 << 20)) f.max_cp = *v;
  if (auto v = take_value(args, "safety-margin")) f.margin_ppm = parse_margin(*v);
  f.min_gpus = take_switch(args, "min-gpus");
  f.why_not = take_switch(args, "why-not");
  f.uneven = take_switch(args, "uneven-pp");
  f.simulate = !take_switch(args, "no-simulate");
  if (auto v = take_value(args, "offload-search")) {
    const std::string t = parse_choice("offload_search", *v, {"none", "cpu", "nvme"});
    f.offload_search = t == "cpu"    ? sim::OffloadDevice::cpu
                       : t == "nvme" ? sim::OffloadDevice::nvme
                                     : sim::OffloadDevice::none;
  }
  if (auto v = take_value(args, "host-memory-per-node")) f.host_memory = parse_size("host_memory_per_node", *v);
  if (auto v = take_value(args, "nvme-per-node")) f.nvme = parse_size("nvme_per_node", *v);
  if (f.min_gpus && f.num_gpus)
    throw ConfigError("num_gpus", std::to_string(*f.num_gpus), "fixes the GPU count; --min-gpus searches for it");
  return f;
}

std::string margin_text(std::uint32_t ppm) {
  std::ostringstream s;
  s << ppm / 10000.0 << "%";
  return s.str();
}

std::string recompute_label(const sim::PlanLayout& l) {
  if (l.recompute_granularity != sim::RecomputeGranularity::full)
    return std::string(sim::recompute_name(l.recompute_granularity));
  if (l.recompute_method == sim::RecomputeMethod::block) return "block " + std::to_string(l.recompute_num_layers);
  return l.recompute_num_layers <= 1 ? "full" : "full/" + std::to_string(l.recompute_num_layers);
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:%+@") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
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
                                       bool explicit_all, std::int64_t gpus_per_node = 0) {
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

std::string command_line(const std::vector<std::string>& args) {
  std::string s = "trainmem";
  for (const auto& a : args) s += " " + shell_quote(a);
  return s;
}

json cost_json(const sim::PlanCost& c, bool offload = false) {
  json j = {{"total", c.total},       {"bubble", c.bubble},     {"recompute", c.recompute},
            {"comm", c.comm},         {"tp_bytes", c.tp_bytes}, {"cp_bytes", c.cp_bytes},
            {"dp_bytes", c.dp_bytes}, {"pp_bytes", c.pp_bytes}, {"ep_bytes", c.ep_bytes}};
  if (offload) j.update({{"offload", c.offload}, {"pcie_bytes", c.pcie_bytes}, {"nvme_bytes", c.nvme_bytes}});
  return j;
}

sim::OffloadDevice device_of(const std::string& name) {
  return name == "cpu" ? sim::OffloadDevice::cpu : name == "nvme" ? sim::OffloadDevice::nvme : sim::OffloadDevice::none;
}

// The offload knobs of a layout (JSON layouts when offload is searched or set).
void add_offload_json(json& j, const sim::PlanLayout& l) {
  j["offload_optimizer"] = sim::offload_device_name(l.offload_optimizer);
  j["offload_param"] = sim::offload_device_name(l.offload_param);
  j["offload_activation_checkpoints"] = l.offload_checkpoints;
}

// Table cell: "-" or the offloaded parts ("opt-cpu,par-nvme,ckpt").
std::string offload_label(const sim::PlanLayout& l) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  if (l.offload_optimizer != sim::OffloadDevice::none)
    add("opt-" + std::string(sim::offload_device_name(l.offload_optimizer)));
  if (l.offload_param != sim::OffloadDevice::none) add("par-" + std::string(sim::offload_device_name(l.offload_param)));
  if (l.offload_checkpoints) add("ckpt");
  return s.empty() ? "-" : s;
}

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
          {"decoder_last_pipeline_num_layers", l.last_stage_layers}};
}

// Entries travel between ranks as JSON (exact integers; doubles round-trip).
json entry_wire(const sim::PlanEntry& e) {
  json j = layout_json(e.layout);
  j["etp"] = e.layout.etp;
  j["num_microbatches"] = e.num_microbatches;
  j["max_peak_bytes"] = e.max_peak.value;
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
  e.num_microbatches = j.at("num_microbatches");
  e.max_peak = Bytes(j.at("max_peak_bytes").get<std::uint64_t>());
  e.base = j.at("base");
  const json& c = j.at("cost");
  e.cost = {c.at("bubble"),   c.at("recompute"), c.at("comm"),     c.at("total"),   c.at("tp_bytes"),
            c.at("cp_bytes"), c.at("dp_bytes"),  c.at("pp_bytes"), c.at("ep_bytes")};
  e.cost.offload = c.at("offload"), e.cost.pcie_bytes = c.at("pcie_bytes"), e.cost.nvme_bytes = c.at("nvme_bytes");
  l.offload_optimizer = device_of(j.at("offload_optimizer"));
  l.offload_param = device_of(j.at("offload_param"));
  l.offload_checkpoints = j.at("offload_activation_checkpoints");
  e.host_per_node = Bytes(j.at("host_bytes_per_node").get<std::uint64_t>());
  e.nvme_per_node = Bytes(j.at("nvme_bytes_per_node").get<std::uint64_t>());
  return e;
}

json counts_json(const sim::PlanCounts& c, bool offload = false) {
  json j = {{"candidates", c.candidates},
            {"bases", c.bases},
            {"evaluated", c.evaluated},
            {"pruned_by_bound", c.pruned_by_bound},
            {"pruned_monotone", c.pruned_monotone},
            {"not_visited", c.not_visited},
            {"fitting_bases", c.fitting_bases},
            {"fitting_evaluated", c.fitting}};
  if (offload) j["over_host"] = c.over_host;
  return j;
}

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
              c.at("over_host")};
  if (j.contains("closest")) r.closest = entry_from_wire(j.at("closest"));
  if (j.contains("closest_bound")) r.closest_bound = entry_from_wire(j.at("closest_bound"));
  return r;
}

std::string model_line(const sim::ResolvedScenario& r, const std::string& source) {
  const ModelSpec& m = *r.scenario.model;
  std::ostringstream s;
  s << m.name << " (" << source << "): " << with_commas(total_parameters(m).value) << " parameters; " << m.num_layers
    << " layers, hidden " << m.hidden_size << ", " << m.num_attention_heads << " heads (" << m.query_groups()
    << " kv), ffn " << m.ffn() << ", vocab " << m.vocab_size;
  if (m.is_moe()) s << ", " << m.num_experts << " experts (top-" << m.moe_router_topk << ")";
  return s.str();
}

std::string training_line(const sim::ResolvedScenario& r) {
  const auto& t = r.scenario.training;
  std::ostringstream s;
  s << "recipe " << r.recipe->name << " + " << r.optimizer->name << " = "
    << sim::bytes_per_parameter(*r.recipe, *r.optimizer) << " bytes/param; seq_length " << t.seq_length
    << "; global_batch_size " << t.global_batch_size << "; attention "
    << (t.attention == sim::AttentionKernel::eager ? "eager" : "flash") << "; schedule "
    << (t.pipeline_schedule == sim::PipelineScheduleOption::gpipe ? "gpipe" : "1f1b (interleaved with vpp > 1)");
  return s.str();
}

std::string device_line(const sim::Scenario& sc, Bytes budget, std::uint32_t ppm) {
  std::ostringstream s;
  s << (sc.gpu_name.empty() ? std::string("gpu_memory") : sc.gpu_name) << ", " << iec(*sc.gpu_memory) << " ("
    << with_commas(sc.gpu_memory->value) << " bytes); safety margin " << margin_text(ppm) << " kept free: budget "
    << iec(budget) << " (" << with_commas(budget.value) << " bytes) per GPU";
  return s.str();
}

std::string nodes_text(std::int64_t world, std::int64_t gpn) {
  if (world % gpn == 0)
    return std::to_string(world / gpn) + (world / gpn == 1 ? " node" : " nodes") + " of " + std::to_string(gpn);
  return "part of one " + std::to_string(gpn) + "-GPU node";
}

// ---- --why-not ---------------------------------------------------------------------------------------

struct Fix {
  std::string change;
  sim::PlanLayout layout;
  Bytes peak;
  sim::PlanCost cost;
  std::optional<Bytes> simulated;  // the replay's peak (when the fixes are replayed)
  Bytes worst() const { return simulated && *simulated > peak ? *simulated : peak; }
};

int run_why_not(const BuiltScenario& built, const CommandLine& cl, const PlanFlags& f, std::ostream& out) {
  if (!built.scenario.gpu_memory) throw ConfigError("gpu", "(none)", "--why-not needs --gpu NAME or --gpu-memory SIZE");
  const sim::EstimateResult est = sim::estimate(built.scenario);
  if (!est.resolved.scenario.model)
    throw ConfigError("num_parameters", "(bare count)", "--why-not needs a layered model");
  const Bytes budget = sim::plan_budget(*built.scenario.gpu_memory, f.margin_ppm);
  const sim::ResolvedScenario& rs = est.resolved;
  const sim::PlanLayout here = sim::layout_of_scenario(rs.scenario);
  const ModelSpec& M = *rs.scenario.model;
  unsigned grad_bytes = 2;
  for (const auto& t : rs.recipe->tensors)
    if (t.category == sim::MemoryCategory::grads && t.zero_class == ZeroStateClass::gradients)
      grad_bytes = bits_per_element(t.dtype) / 8;
  const sim::PlanCostModel cost_model(M, rs.scenario.training, est.activation_bytes, grad_bytes, f.gpus_per_node);
  auto params_of = [](const sim::EstimateResult& r) {
    double d = 0, x = 0;
    for (const auto& c : r.classes) {
      d = std::max(d, static_cast<double>(c.shard.dense.value));
      x = std::max(x, static_cast<double>(c.shard.expert.value));
    }
    return std::make_pair(d, x);
  };

  sim::PlanRequest rq;
  rq.base = built.scenario;
  // The node size of the per-node host totals: --gpus-per-node, else the scenario's.
  rq.gpus_per_node = f.gpus_per_node_flag ? *f.gpus_per_node_flag : built.scenario.gpus_per_node;
  const std::vector<std::string> base = base_args(cl);
  auto reproduce = [&](const sim::PlanLayout& l) {
    return estimate_args(base, l, cl.scenario_path.has_value(), rq.gpus_per_node);
  };
  auto host_fits = [&](const sim::EstimateResult& r) {
    return r.per_node.host <= f.host_memory && r.per_node.nvme <= f.nvme;
  };
  const auto& worst = est.classes[est.max_peak_class];
  out << "# trainmem " << kVersion << " plan --why-not\n";
  out << "# model      " << model_line(rs, built.model_source) << "\n";
  out << "# training   " << training_line(rs) << "\n";
  out << "# device     " << device_line(built.scenario, budget, f.margin_ppm) << "\n";
  out << "# layout     world_size " << here.world_size() << " = tp " << here.tp << " x cp " << here.cp << " x pp "
      << here.pp << " x dp " << here.dp << "; vpp " << here.vpp << ", ep " << here.ep << ", sequence_parallel "
      << (here.sequence_parallel ? "on" : "off") << ", zero_stage " << here.zero_stage << ", recompute "
      << recompute_label(here) << ", micro_batch_size " << here.micro_batch_size << ", " << rs.num_microbatches
      << " microbatches\n";
  if (here.offloads())
    out << "# Offload    " << offload_label(here) << ": the largest node needs " << iec(est.per_node.host)
        << " host RAM and " << iec(est.per_node.nvme) << " NVMe (at most " << iec(f.host_memory) << " / " << iec(f.nvme)
        << ": --host-memory-per-node, --nvme-per-node)\n";
  if (est.max_peak <= budget && !host_fits(est)) {
    out << "# Verdict    DOES NOT FIT: the GPU peak " << iec(est.max_peak)
        << " is under the budget, but the offloaded bytes exceed the node's host RAM or NVMe\n";
    return kExitDoesNotFit;
  }
  // Fits by estimate(): replay the step too (the buffers estimate() leaves out), as plan does for its
  // finalists; the verdict is the replay's when it overflows.
  std::optional<sim::SimulationResult> replay;
  if (est.max_peak <= budget && f.simulate) replay = sim::simulate(built.scenario, false);
  const bool replay_over = replay && replay->max_peak > budget;
  if (est.max_peak <= budget && !replay_over) {
    out << "# Verdict    FITS: the fullest rank (class " << est.max_peak_class << ", ranks " << rank_ranges(worst.ranks)
        << ", pp_rank " << worst.coords.pp << ") peaks at " << iec(est.max_peak) << ", " << iec(budget - est.max_peak)
        << " under the budget";
    if (replay)
      out << "; replayed by the simulator it peaks at " << iec(replay->max_peak) << ", "
          << iec(budget - replay->max_peak) << " under";
    out << "\n";
    return kExitOk;
  }
  sim::MemoryBreakdown at_peak = worst.bytes;
  if (replay_over) {
    const sim::StageReport& st = replay->stages.at(replay->max_peak_stage);
    const Bytes over = replay->max_peak - budget;
    out << "# Verdict    DOES NOT FIT when replayed: estimate() puts the fullest rank at " << iec(est.max_peak) << ", "
        << iec(budget - est.max_peak) << " under the budget, but the simulator's replay of the step peaks at "
        << iec(replay->max_peak) << " (" << with_commas(replay->max_peak.value) << " bytes) on stage " << st.pp_rank
        << " (ranks " << rank_ranges(st.ranks) << "), " << iec(over) << " (" << with_commas(over.value)
        << " bytes) over the budget, at " << sim::describe(st.simulation.peak_event, st.pp_rank) << "\n";
    at_peak = st.simulation.at_peak;
  } else {
    const Bytes over = est.max_peak - budget;
    out << "# Verdict    DOES NOT FIT: class " << est.max_peak_class << " (ranks " << rank_ranges(worst.ranks)
        << ", pp_rank " << worst.coords.pp << ") peaks at " << iec(est.max_peak) << " ("
        << with_commas(est.max_peak.value) << " bytes), " << iec(over) << " (" << with_commas(over.value)
        << " bytes) over the budget\n";
  }
  sim::MemoryCategory largest = sim::MemoryCategory::params;
  for (auto c : sim::kMemoryCategories)
    if (at_peak[c] > at_peak[largest]) largest = c;
  out << "# Largest    " << sim::category_name(largest) << " " << iec(at_peak[largest]) << " of that rank's peak;";
  for (auto c : sim::kMemoryCategories)
    if (at_peak[c].value != 0) out << " " << sim::category_name(c) << " " << gib(at_peak[c]);
  out << " (GiB)\n";
  std::int64_t over_ranks = 0;
  if (replay_over) {
    for (const auto& st : replay->stages)
      if (st.simulation.peak > budget) over_ranks += static_cast<std::int64_t>(st.ranks.size());
  } else {
    for (const auto& c : est.classes)
      if (c.peak > budget) over_ranks += static_cast<std::int64_t>(c.ranks.size());
  }
  out << "# Overflow   " << over_ranks << " of " << est.world_size << " ranks exceed the budget"
      << (replay_over ? " when replayed" : "") << "\n";

  // Single-knob changes: each knob over its values; tp, pp and cp also keep the GPU count by moving dp.
  std::vector<std::pair<std::string, sim::PlanLayout>> tries;
  const std::int64_t world = here.world_size();
  const std::int64_t gbs = rs.scenario.training.global_batch_size;
  auto add = [&](std::string what, sim::PlanLayout l) {
    if (!(l == here)) tries.emplace_back(std::move(what), l);
  };
  auto s = [](std::int64_t v) { return std::to_string(v); };
  auto degree = [&](const char* name, std::int64_t sim::PlanLayout::*field, const std::vector<std::int64_t>& values) {
    for (std::int64_t v : values) {
      sim::PlanLayout l = here;
      l.*field = v;
      add(std::string(name) + " " + s(here.*field) + " -> " + s(v), l);  // dp kept: the GPU count changes
      const std::int64_t other = l.tp * l.cp * l.pp;
      if (world % other == 0) {
        l.dp = world / other;
        add(std::string(name) + " " + s(here.*field) + " -> " + s(v) + ", dp " + s(here.dp) + " -> " + s(l.dp), l);
      }
    }
  };
  std::vector<std::int64_t> small;
  for (std::int64_t v = 1; v <= std::max<std::int64_t>(f.gpus_per_node, 64); v *= 2) small.push_back(v);
  std::vector<std::int64_t> layer_divisors;
  for (std::int64_t v = 1; v <= M.num_layers; ++v)
    if (M.num_layers % v == 0) layer_divisors.push_back(v);
  degree("tp", &sim::PlanLayout::tp, small);
  degree("pp", &sim::PlanLayout::pp, layer_divisors);
  degree("cp", &sim::PlanLayout::cp, small);
  for (std::int64_t v = 1; v <= gbs && v <= 65536; ++v)
    if (gbs % v == 0) {
      sim::PlanLayout l = here;
      l.dp = v;
      add("dp " + s(here.dp) + " -> " + s(v), l);
    }
  for (std::int64_t v : layer_divisors) {
    sim::PlanLayout l = here;
    l.vpp = v;
    add("vpp " + s(here.vpp) + " -> " + s(v), l);
  }
  for (std::int64_t v = 1; v <= f.max_mbs; v *= 2) {
    sim::PlanLayout l = here;
    l.micro_batch_size = v;
    add("micro_batch_size " + s(here.micro_batch_size) + " -> " + s(v), l);
  }
  {
    sim::PlanLayout l = here;
    l.sequence_parallel = !here.sequence_parallel;
    add(std::string("sequence_parallel ") + (l.sequence_parallel ? "off -> on" : "on -> off"), l);
  }
  for (int z = 0; z <= 3; ++z) {
    sim::PlanLayout l = here;
    l.zero_stage = z;
    add("zero_stage " + s(here.zero_stage) + " -> " + s(z), l);
  }
  const std::string rc_here = recompute_label(here);
  auto recompute = [&](sim::RecomputeGranularity g, sim::RecomputeMethod m, std::int64_t k) {
    sim::PlanLayout l = here;
    l.recompute_granularity = g, l.recompute_method = m, l.recompute_num_layers = k;
    add("recompute " + rc_here + " -> " + recompute_label(l), l);
  };
  recompute(sim::RecomputeGranularity::none, sim::RecomputeMethod::uniform, 0);
  recompute(sim::RecomputeGranularity::selective, sim::RecomputeMethod::uniform, 0);
  recompute(sim::RecomputeGranularity::full, sim::RecomputeMethod::uniform, 1);
  for (std::int64_t k = 1; k < M.num_layers; ++k)
    recompute(sim::RecomputeGranularity::full, sim::RecomputeMethod::block, k);
  // Offload (with --offload-search): each knob on its own, and with the ZeRO stage / recompute it needs.
  if (f.offload_search != sim::OffloadDevice::none) {
    std::vector<sim::OffloadDevice> tiers = {sim::OffloadDevice::cpu};
    if (f.offload_search == sim::OffloadDevice::nvme) tiers.push_back(sim::OffloadDevice::nvme);
    auto add_offload = [&](std::string what, const sim::PlanLayout& l) {
      for (const auto& t : tries)
        if (t.second == l) return;
      if (!(l == here)) tries.emplace_back(std::move(what), l);
    };
    for (sim::OffloadDevice d : tiers) {
      const std::string dn(sim::offload_device_name(d));
      for (int z : {here.zero_stage, 1, 2, 3}) {  // estimate() refuses what DeepSpeed refuses: not a fix
        const std::string zt = z == here.zero_stage ? "" : "zero_stage " + s(here.zero_stage) + " -> " + s(z) + ", ";
        auto label = [&](const char* what) {  // "zero_stage 1 -> 3, offload_param cpu"
          std::string text = zt;
          text += what;
          text += dn;
          return text;
        };
        sim::PlanLayout l = here;
        l.zero_stage = z;
        l.offload_optimizer = d;
        add_offload(label("offload_optimizer "), l);
        l = here;
        l.zero_stage = z;
        l.offload_param = d;
        if (z == 3) add_offload(label("offload_param "), l);
        l.offload_optimizer = d;
        if (z == 3) add_offload(label("offload opt+param "), l);
      }
    }
    sim::PlanLayout l = here;
    l.offload_checkpoints = true;
    if (here.recompute_granularity != sim::RecomputeGranularity::full)
      l.recompute_granularity = sim::RecomputeGranularity::full, l.recompute_method = sim::RecomputeMethod::uniform,
      l.recompute_num_layers = 1;
    add_offload(
        std::string(here.recompute_granularity == sim::RecomputeGranularity::full ? "" : "recompute -> full, ") +
            "offload checkpoints",
        l);
  }
  if (M.is_moe())
    for (std::int64_t v = 1; v <= M.num_experts; ++v)
      if (M.num_experts % v == 0) {
        sim::PlanLayout l = here;
        l.ep = v;
        add("ep " + s(here.ep) + " -> " + s(v), l);
      }

  std::vector<Fix> fixes;
  for (const auto& [what, l] : tries) {
    if (l.world_size() > (f.max_gpus ? *f.max_gpus : std::int64_t{1} << 24)) continue;
    try {
      const sim::EstimateResult r = sim::estimate(sim::scenario_for(rq, l));
      if (r.max_peak > budget || !host_fits(r)) continue;
      const auto [d, x] = params_of(r);
      const double ckpt = r.layer_activations ? static_cast<double>(r.layer_activations->checkpoint.value) : 0.0;
      fixes.push_back({what, l, r.max_peak, cost_model.cost(l, r.resolved.num_microbatches, d, x, ckpt), std::nullopt});
    } catch (const Error&) {
      // Not a valid layout (a divisibility rule): not a fix.
    }
  }
  std::stable_sort(fixes.begin(), fixes.end(), [&](const Fix& a, const Fix& b) {
    const bool sa = a.layout.world_size() == world, sb = b.layout.world_size() == world;
    if (sa != sb) return sa;
    if (a.layout.offloads() != b.layout.offloads()) return b.layout.offloads();  // offload last (plan's rule)
    if (a.cost.total != b.cost.total) return a.cost.total < b.cost.total;
    return a.peak < b.peak;
  });
  const std::size_t want = std::max<std::size_t>(f.top, 1);
  std::size_t replay_rejected = 0;
  if (f.simulate) {
    // Replay the fixes best first until enough fit in the replay too (each replay takes milliseconds).
    std::vector<Fix> kept;
    for (Fix& x : fixes) {
      if (kept.size() == want) break;
      x.simulated = sim::simulate(sim::scenario_for(rq, x.layout), false).max_peak;
      if (*x.simulated <= budget)
        kept.push_back(std::move(x));
      else
        ++replay_rejected;
    }
    fixes = std::move(kept);
  }
  if (fixes.empty()) {
    out << "# Fix        no single-knob change fits" << (f.simulate ? " (by estimate() and when replayed)" : "")
        << "; try `trainmem plan` with these model and training flags\n";
    return kExitDoesNotFit;
  }
  out << "#\n# cheapest single-knob changes that fit (same GPU count first, then the cost proxy)";
  if (fixes.front().layout.world_size() != world) out << "; none fits on the same " << world << " GPUs";
  out << ":\n";
  out << "#  change                                     gpus      peak" << (f.simulate ? "  sim peak" : "")
      << "   headroom    cost\n";
  out << "#                                                      (GiB)" << (f.simulate ? "     (GiB)" : "")
      << "      (GiB)\n";
  const std::size_t shown = std::min<std::size_t>(fixes.size(), want);
  for (std::size_t i = 0; i < shown; ++i) {
    const Fix& x = fixes[i];
    out << "   " << std::left << std::setw(40) << x.change << std::right << std::setw(8) << x.layout.world_size()
        << std::setw(10) << gib(x.peak);
    if (x.simulated) out << std::setw(10) << gib(*x.simulated);
    out << std::setw(11) << gib(budget - x.worst()) << std::setw(8) << fixed(x.cost.total, 3) << "\n";
  }
  if (replay_rejected > 0)
    out << "# Replayed   " << replay_rejected
        << " cheaper change(s) fit by estimate() but overflow when replayed by the simulator; not listed\n";
  out << "# Fix        " << fixes.front().change << ": " << command_line(reproduce(fixes.front().layout)) << "\n";
  return kExitDoesNotFit;
}

}  // namespace

namespace {
int run_plan_impl(const std::vector<std::string>& input, std::ostream& out, std::ostream& notices) {
  std::vector<std::string> args = input;
  const PlanFlags f = take_plan_flags(args);
  const CommandLine cl = parse_command_line(args);
  if (cl.help) {
    out << kPlanHelp << options_help();
    return kExitOk;
  }
  Settings settings;
  if (cl.scenario_path) settings = load_scenario_file(*cl.scenario_path);
  settings = merge(std::move(settings), cl.settings);
  const BuiltScenario built = build_scenario_with_inputs(settings, notices);
  if (f.why_not) {
    if (built.output.format == OutputFormat::json)
      throw ConfigError("format", "json",
                        "--why-not prints a table only (use `trainmem estimate --format json` for the numbers)");
    // One analysis, no search to split: under mpirun only the first rank prints it.
    if (launcher_rank() != 0) {
      std::ostringstream discard;
      return run_why_not(built, cl, f, discard);
    }
    return run_why_not(built, cl, f, out);
  }

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
  const sim::Planner planner(rq);
  const std::vector<std::string> base = base_args(cl);
  const bool json_out = built.output.format == OutputFormat::json;
  const bool offload_on = planner.offload_in_space();
  auto reproduce = [&](const sim::PlanLayout& l) {
    return estimate_args(base, l, cl.scenario_path.has_value(), rq.gpus_per_node);
  };

  sim::PlanSearchOptions opt;
  opt.top = f.top;
  opt.min_gpus = f.min_gpus;
  if (f.simulate) {
    // The replay needs the analytic ranking past the answer (a finalist may overflow when replayed), so
    // the split search keeps a deeper ranking over every world size it visits; verify_finalists asks for
    // more (one process) in the rare case that is not enough.
    opt.top = 2 * f.top + 8;
    opt.min_gpus = false;
  }
  return with_plan_ranks([&](const PlanRanks& ranks) {
    sim::PlanSearchOptions mine = opt;
    mine.slice = ranks.rank;
    mine.slices = ranks.size;
    sim::PlanResult result = planner.search(mine, ranks.sum);
    bool any_fits = ranks.sum(result.counts.fitting_bases) > 0;
    if (ranks.size > 1) {
      const std::vector<std::string> texts = ranks.gather(result_wire(result));
      if (ranks.rank != 0) return any_fits ? kExitOk : kExitDoesNotFit;
      std::vector<sim::PlanResult> parts;
      parts.reserve(texts.size());
      for (const auto& text : texts) parts.push_back(result_from_wire(text));
      result = sim::merge_plan_results(parts, opt);
    }
    // Rows: the answer, best first, with the replayed peak when the finalists were simulated.
    struct Row {
      sim::PlanEntry e;
      std::optional<sim::ReplayedPeak> replayed;
      Bytes worst() const { return replayed && replayed->peak > e.max_peak ? replayed->peak : e.max_peak; }
    };
    std::vector<Row> rows;
    std::optional<sim::PlanVerification> verified;
    if (f.simulate) {
      verified = sim::verify_finalists(planner, result, opt.top, {f.top, f.min_gpus}, [&](std::size_t depth) {
        sim::PlanSearchOptions deeper;
        deeper.top = depth;
        return planner.search(deeper);
      });
      for (const auto& v : verified->layouts) rows.push_back({v.entry, v.replayed});
      any_fits = !rows.empty();
    } else {
      for (const auto& e : result.layouts) rows.push_back({e, std::nullopt});
    }
    const Bytes budget = planner.budget();
    const Bytes gpu = *built.scenario.gpu_memory;
    const auto& rs = planner.resolved_base();
    const std::string mode = f.min_gpus ? "min_gpus" : rq.num_gpus ? "num_gpus" : "top";
    const std::int64_t answer_world = rows.empty() ? 0 : rows.front().e.layout.world_size();
    auto replay_json = [](const sim::ReplayedPeak& r) {
      return json{{"simulated_max_peak_bytes", r.peak.value},
                  {"simulated_peak_stage", r.stage},
                  {"simulated_peak_event", r.event}};
    };
    if (json_out) {
      json j;
      j["schema_version"] = 1;
      j["command"] = "plan";
      j["mode"] = mode;
      j["config"] = {{"model", rs.scenario.model->name},
                     {"model_source", built.model_source},
                     {"num_parameters", total_parameters(*rs.scenario.model).value},
                     {"seq_length", rs.scenario.training.seq_length},
                     {"global_batch_size", rs.scenario.training.global_batch_size},
                     {"recipe", rs.recipe->name},
                     {"optimizer", rs.optimizer->name},
                     {"gpu", built.scenario.gpu_name},
                     {"gpu_memory_bytes", gpu.value},
                     {"safety_margin", f.margin_ppm / 1e6},
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
        l["nodes"] = e.layout.world_size() % rq.gpus_per_node == 0 ? json(e.layout.world_size() / rq.gpus_per_node)
                                                                   : json(nullptr);
        l["num_microbatches"] = e.num_microbatches;
        l["max_peak_bytes"] = e.max_peak.value;
        if (row.replayed) l.update(replay_json(*row.replayed));
        l["headroom_bytes"] = (budget - row.worst()).value;
        l["free_bytes"] = (gpu - row.worst()).value;
        l["cost"] = cost_json(e.cost, offload_on);
        if (offload_on) {
          add_offload_json(l, e.layout);
          l["host_bytes_per_node"] = e.host_per_node.value;
          l["nvme_bytes_per_node"] = e.nvme_per_node.value;
        }
        const auto a = reproduce(e.layout);
        l["estimate_args"] = a;
        l["estimate_command"] = command_line(a);
        j["layouts"].push_back(l);
      }
      if (f.min_gpus) j["min_gpus"] = answer_world == 0 ? json(nullptr) : json(answer_world);
      j["fits"] = any_fits;
      j["search"] = counts_json(result.counts, offload_on);
      if (verified) {
        json r = {{"finalists", verified->bases_replayed},
                  {"simulations", verified->replays},
                  {"rejected_variants", verified->rejected},
                  {"rejected_finalists", verified->bases_rejected},
                  {"ranking_depth", verified->depth}};
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
      out << j.dump(2) << "\n";
      return any_fits ? kExitOk : kExitDoesNotFit;
    }

    out << "# trainmem " << kVersion << " plan\n";
    out << "# model      " << model_line(rs, built.model_source) << "\n";
    out << "# training   " << training_line(rs) << "\n";
    out << "# device     " << device_line(built.scenario, budget, f.margin_ppm) << "\n";
    if (offload_on)
      out << "# offload    "
          << (rq.offload_search == sim::OffloadDevice::none
                  ? std::string("fixed by the offload flags (--offload-search cpu|nvme searches the others)")
                  : "searched up to " + std::string(sim::offload_device_name(rq.offload_search)) +
                        " (a fixed offload flag fixes its knob)")
          << "; a layout fits only if its node needs at most " << iec(rq.host_memory_per_node) << " host RAM and "
          << iec(rq.nvme_per_node)
          << " NVMe (--host-memory-per-node, --nvme-per-node); no offload ranks first on as many GPUs\n";
    out << "# search     ";
    if (rq.num_gpus)
      out << "exactly " << *rq.num_gpus << " GPUs";
    else
      out << "up to " << rq.max_gpus << " GPUs, whole " << rq.gpus_per_node << "-GPU nodes (or a divisor of one)";
    out << "; tp within a node; every knob not fixed by a flag; " << planner.num_bases()
        << " layouts x inner knobs = " << with_commas(planner.candidate_count()) << " candidates\n";
    if (offload_on)
      out << "# rank by    fewest GPUs, then no offload before offload, then cost = (1 + recompute) x (1 + bubble) + "
             "comm + offload (relative step time; docs/planner.md)\n";
    else
      out << "# rank by    fewest GPUs, then cost = (1 + recompute) x (1 + bubble) + comm (relative step time; "
             "docs/planner.md)\n";
    if (f.simulate)
      out << "# verify     each finalist is replayed by the simulator (buckets, gathers, p2p buffers, the optimizer "
             "step) and kept only if that peak fits too; headroom from the larger peak (--no-simulate: estimate "
             "only)\n";
    out << "#\n";
    const bool moe = rs.scenario.model->is_moe();
    const bool split_col = rq.uneven_splits || p.first_stage_layers != 0 || p.last_stage_layers != 0;
    out << "#rank  gpus  tp  pp" << (split_col ? "  first/last" : "") << " vpp  cp" << (moe ? "  ep" : "")
        << "   dp  mbs    m  sp zero  recompute      peak" << (f.simulate ? "  sim peak" : "") << "  headroom"
        << "  bubble  recomp    comm    cost" << (offload_on ? "  offl  offload           host/node" : "") << "\n";
    out << "#                            " << (moe ? "    " : "") << (split_col ? "            " : "")
        << "                                  (GiB)" << (f.simulate ? "     (GiB)" : "") << "     (GiB)"
        << (offload_on ? "                                                       (GiB)" : "") << "\n";
    std::size_t rank = 0;
    for (const auto& row : rows) {
      const auto& e = row.e;
      const auto& l = e.layout;
      out << std::setw(5) << ++rank << std::setw(6) << l.world_size() << std::setw(4) << l.tp << std::setw(4) << l.pp;
      if (split_col)
        out << std::setw(12)
            << (l.first_stage_layers == 0 && l.last_stage_layers == 0
                    ? std::string("even")
                    : std::to_string(l.first_stage_layers) + "/" + std::to_string(l.last_stage_layers));
      out << std::setw(4) << l.vpp << std::setw(4) << l.cp;
      if (moe) out << std::setw(4) << l.ep;
      out << std::setw(5) << l.dp << std::setw(5) << l.micro_batch_size << std::setw(5) << e.num_microbatches
          << std::setw(4) << (l.sequence_parallel ? "on" : "off") << std::setw(5) << l.zero_stage << std::setw(11)
          << recompute_label(l) << std::setw(10) << gib(e.max_peak);
      if (row.replayed) out << std::setw(10) << gib(row.replayed->peak);
      out << std::setw(10) << gib(budget - row.worst()) << std::setw(8) << fixed(e.cost.bubble, 3) << std::setw(8)
          << fixed(e.cost.recompute, 3) << std::setw(8) << fixed(e.cost.comm, 3) << std::setw(8)
          << fixed(e.cost.total, 3);
      if (offload_on)
        out << std::setw(6) << fixed(e.cost.offload, 3) << "  " << std::left << std::setw(18) << offload_label(l)
            << std::right << std::setw(10) << gib(e.host_per_node);
      out << "\n";
    }
    const auto& c = result.counts;
    if (!rows.empty()) {
      if (f.min_gpus)
        out << "# Smallest   " << answer_world << " GPUs (" << nodes_text(answer_world, rq.gpus_per_node)
            << ") fit this job; no layout of the searched space on fewer GPUs does"
            << (f.simulate ? " (by estimate, or when replayed)" : "") << "\n";
      const auto& best = rows.front();
      out << "# Best       peak " << iec(best.e.max_peak) << " (" << with_commas(best.e.max_peak.value) << " bytes)";
      if (best.replayed)
        out << ", simulated " << iec(best.replayed->peak) << " (" << with_commas(best.replayed->peak.value)
            << " bytes) at " << best.replayed->event;
      out << "; " << iec(budget - best.worst()) << " under the budget, " << iec(gpu - best.worst())
          << " free on the device\n";
      if (best.e.layout.offloads())
        out << "# Offload    " << offload_label(best.e.layout) << ": the largest node needs "
            << iec(best.e.host_per_node) << " host RAM (" << with_commas(best.e.host_per_node.value) << " bytes) and "
            << iec(best.e.nvme_per_node) << " NVMe; offload cost " << fixed(best.e.cost.offload, 3) << " (PCIe "
            << iec(Bytes(static_cast<std::uint64_t>(best.e.cost.pcie_bytes))) << " per GPU per step)\n";
      out << "# Reproduce  " << command_line(reproduce(best.e.layout)) << "\n";
    } else {
      out << "# Verdict    NOTHING FITS";
      if (planner.num_bases() == 0) {
        out << ": no layout satisfies the limits and fixed knobs (world sizes, divisibility, global batch)\n";
      } else {
        out << "\n";
      }
      if (verified && verified->first_rejected) {
        const auto& r = *verified->first_rejected;
        out << "# Closest    fits by estimate (" << iec(r.entry.max_peak) << ") but the replay peaks at "
            << iec(r.replayed.peak) << ", " << iec(r.replayed.peak - budget) << " over the budget, at "
            << r.replayed.event << ": " << command_line(reproduce(r.entry.layout)) << "\n";
      }
      if (result.closest) {
        const auto& e = *result.closest;
        out << "# Closest    evaluated layout: its fullest rank needs " << iec(e.max_peak - budget) << " ("
            << with_commas((e.max_peak - budget).value)
            << " bytes) more than the budget: " << command_line(reproduce(e.layout)) << "\n";
      }
      if (result.closest_bound) {
        const auto& e = *result.closest_bound;
        out << "# Bound      " << (result.closest ? "on the other layouts" : "on every layout")
            << " the model states alone (with the layout's fixed runtime: CUDA context, NCCL, workspaces) exceed the "
               "budget; the least by "
            << iec(e.max_peak - budget) << " (" << with_commas((e.max_peak - budget).value) << " bytes, at ZeRO stage "
            << e.layout.zero_stage << "): " << command_line(reproduce(e.layout)) << "\n";
      }
      if (result.counts.over_host > 0)
        out << "# Host       " << with_commas(result.counts.over_host)
            << " evaluated layouts fit the GPU budget but need more host RAM or NVMe per node than "
            << iec(rq.host_memory_per_node) << " / " << iec(rq.nvme_per_node) << "\n";
    }
    out << "# Searched   " << with_commas(c.candidates) << " candidates: " << with_commas(c.evaluated) << " evaluated, "
        << with_commas(c.pruned_by_bound) << " pruned (model states alone overflow), " << with_commas(c.pruned_monotone)
        << " settled by recompute monotonicity, " << with_commas(c.not_visited)
        << " not visited (more GPUs than the answer); " << with_commas(c.fitting_bases)
        << " layouts fit (best recompute/ZeRO/SP" << (offload_on ? "/offload" : "") << " variant each)";
    if (offload_on) out << "; " << with_commas(c.over_host) << " fit the GPU but not the host";
    out << "\n";
    if (verified && verified->bases_replayed > 0) {
      const auto& v = *verified;
      out << "# Simulated  " << v.bases_replayed << " finalist layouts, " << v.replays
          << " simulate() runs: " << v.rejected << " variants that fit by estimate overflow when replayed";
      if (v.bases_rejected > 0) out << " (" << v.bases_rejected << " layouts had no variant left)";
      out << "\n";
      if (v.first_rejected && !rows.empty()) {
        const auto& r = *v.first_rejected;
        out << "# Rejected   best of them: " << recompute_label(r.entry.layout) << " on tp " << r.entry.layout.tp
            << " pp " << r.entry.layout.pp << " dp " << r.entry.layout.dp << " (zero " << r.entry.layout.zero_stage
            << (r.entry.layout.offloads() ? ", offload " + offload_label(r.entry.layout) : std::string())
            << "): estimate " << iec(r.entry.max_peak) << ", simulated " << iec(r.replayed.peak) << " at "
            << r.replayed.event << "\n";
      }
    }
    return any_fits ? kExitOk : kExitDoesNotFit;
  });
}

}  // namespace

int run_plan(const std::vector<std::string>& input, std::ostream& out, std::ostream& err) {
  // ds_config / Megatron-args notices: printed once the plan succeeded (an input error stays one line), by
  // the first rank only under mpirun.
  std::ostringstream notices;
  const int rc = run_plan_impl(input, out, notices);
  if (launcher_rank() == 0) err << notices.str();
  return rc;
}

}  // namespace trainmem::tools
