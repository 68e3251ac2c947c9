// The header lines, layout labels and reproducing command line of `trainmem plan` (plan_lines.hpp).
#include "tools/report/plan/plan_lines.hpp"

#include <sstream>

#include "sim/accounting/estimate.hpp"
#include "tools/report/format.hpp"

namespace trainmem::tools {
namespace {

std::string margin_text(std::uint32_t ppm) {
  std::ostringstream s;
  s << ppm / 10000.0 << "%";
  return s.str();
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:%+@") ==
                        std::string::npos)
    return s;
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

}  // namespace

std::string model_line(const sim::ResolvedScenario& r, const std::string& source) {
  const ModelSpec& m = *r.scenario.model;
  std::ostringstream s;
  s << m.name << " (" << source << "): " << with_commas(total_parameters(m).value) << " parameters; " << m.num_layers
    << " layers, hidden " << m.hidden_size << ", " << m.num_attention_heads << " heads";
  if (m.mla())
    s << ", MLA (kv_lora " << m.kv_lora_rank << ")";
  else
    s << " (" << m.query_groups() << " kv)";
  s << ", ffn " << m.ffn() << ", vocab " << m.vocab_size;
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

std::string device_line(const sim::Scenario& sc, Bytes budget, std::uint32_t margin_ppm) {
  std::ostringstream s;
  s << (sc.gpu_name.empty() ? std::string("gpu_memory") : sc.gpu_name) << ", " << iec(*sc.gpu_memory) << " ("
    << with_commas(sc.gpu_memory->value) << " bytes); safety margin " << margin_text(margin_ppm)
    << " kept free: budget " << iec(budget) << " (" << with_commas(budget.value) << " bytes) per GPU";
  return s.str();
}

std::string recompute_label(const sim::PlanLayout& l) {
  if (l.recompute_granularity != sim::RecomputeGranularity::full)
    return std::string(sim::recompute_name(l.recompute_granularity));
  if (l.recompute_method == sim::RecomputeMethod::block) return "block " + std::to_string(l.recompute_num_layers);
  return l.recompute_num_layers <= 1 ? "full" : "full/" + std::to_string(l.recompute_num_layers);
}

std::string offload_label(const sim::PlanLayout& l) {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  if (l.offload_optimizer != sim::OffloadDevice::none)
    add("opt-" + std::string(sim::offload_device_name(l.offload_optimizer)));
  if (l.offload_param != sim::OffloadDevice::none) add("par-" + std::string(sim::offload_device_name(l.offload_param)));
  if (l.offload_checkpoints) add("ckpt");
  return s.empty() ? "-" : s;
}

std::string shell_command(const std::vector<std::string>& args) {
  std::string s = "trainmem";
  for (const auto& a : args) s += " " + shell_quote(a);
  return s;
}

std::vector<std::string> reproduce_args(std::vector<std::string> estimate_args, bool fits_only_replayed) {
  if (fits_only_replayed && !estimate_args.empty() && estimate_args.front() == "estimate")
    estimate_args.front() = "simulate";
  return estimate_args;
}

}  // namespace trainmem::tools
