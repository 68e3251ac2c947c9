#include "tools/report/report_lora.hpp"

#include <sstream>

#include "tools/report/format.hpp"

namespace trainmem::tools {
namespace {
std::string base_text(const sim::LoraConfig& c) {
  std::string s(dtype_name(c.base.dtype));
  if (sim::is_quantized(c.base.dtype)) s += " + scales (" + sim::scale_label(c.base) + ")";
  return s;
}
}  // namespace

void write_lora_header(std::ostream& out, const sim::EstimateResult& r) {
  const auto& sc = r.resolved.scenario;
  if (!sc.lora.enabled()) return;
  const ElementCount adapters = sim::lora_parameters(*sc.model, sc.lora);
  out << "# lora       r " << sc.lora.rank << " on " << sim::lora_targets_text(sc.lora.targets) << ": "
      << with_commas(adapters.value) << " trainable adapter parameters ("
      << fixed(100.0 * static_cast<double>(adapters.value) / static_cast<double>(r.num_parameters.value), 3)
      << "% of the base); frozen base linear weights " << base_text(sc.lora)
      << ", params only; the recipe and optimizer apply to the adapters\n";
}

void add_lora_json(nlohmann::json& doc, const sim::EstimateResult& r) {
  const auto& sc = r.resolved.scenario;
  if (!sc.lora.enabled()) {
    doc["config"]["lora"] = nullptr;
    return;
  }
  const auto& c = sc.lora;
  doc["config"]["lora"] = {
      {"rank", c.rank},
      {"target_modules", sim::lora_targets_text(c.targets)},
      {"base_weight_dtype", dtype_name(c.base.dtype)},
      {"quant_group_size", c.base.group_size != 0 ? c.base.group_size : sim::default_group_size(c.base.dtype)},
      {"double_quantization", c.base.double_quantization},
      {"base_scales", sim::scale_label(c.base)},
      {"adapter_parameters", sim::lora_parameters(*sc.model, c).value}};
  for (std::size_t i = 0; i < r.classes.size(); ++i) {
    const auto& lr = *r.classes[i].lora;
    nlohmann::json modules = nlohmann::json::array();
    for (const auto& m : lr.layer.modules)
      modules.push_back({{"name", sim::lora_target_name(m.target)},
                         {"in_features", m.in},
                         {"out_features", m.out},
                         {"row_parallel", m.row_parallel},
                         {"a_elements", m.a_elements.value},
                         {"b_elements", m.b_elements.value}});
    doc["ranks"][i]["lora"] = {{"adapter_parameters", lr.adapters.dense.value},
                               {"adapter_parameters_per_layer", lr.layer.params.value},
                               {"modules_per_layer", modules},
                               {"frozen_linear_weight_elements", lr.base.quantized_elements.value},
                               {"frozen_linear_weight_bytes", lr.base.quantized.data.value},
                               {"frozen_scale_bytes", lr.base.quantized.scales.value},
                               {"frozen_other_bytes", lr.base.other.value},
                               {"adapter_activation_bytes_per_layer", lr.adapter_activations_per_layer.value},
                               {"adapter_activation_bytes", r.classes[i].lora_activations.value}};
  }
}

std::string explain_lora_states(const sim::EstimateResult& r, const sim::RankClass& c) {
  const auto& sc = r.resolved.scenario;
  const auto& p = sc.parallel;
  const auto& lr = *c.lora;
  std::ostringstream o;
  o << "  LoRA (r " << sc.lora.rank << "): per layer on this rank (PEFT LoraParallelLinear split over tp " << p.tp
    << "):\n";
  for (const auto& m : lr.layer.modules)
    o << "    " << sim::lora_target_name(m.target) << ": A r x " << m.in << (m.row_parallel ? "/tp" : "") << " = "
      << with_commas(m.a_elements.value) << ", B " << m.out << (m.row_parallel ? "" : "/tp")
      << " x r = " << with_commas(m.b_elements.value) << "\n";
  o << "    adapters per layer " << with_commas(lr.layer.params.value) << " x " << c.num_layers
    << " layers = " << with_commas(lr.adapters.dense.value) << " trainable parameters\n";
  o << "  Model states (zero_stage " << p.zero_stage
    << (p.hybrid_shard() ? " over the HSDP shard_group_size = " : " over dp * cp = ") << p.zero_shard_ways()
    << "; stage 3 also shards the frozen base):\n";
  for (const auto& t : c.model_states.terms)
    o << "    " << t.name << " [" << t.dtype << "]: "
      << (t.dense_elements.value + t.expert_elements.value == 0
              ? std::string()
              : with_commas((t.dense_elements + t.expert_elements).value) + " elements -> ")
      << with_commas(t.bytes.value) << " B  " << iec(t.bytes) << (t.sharded ? "  (sharded by ZeRO)" : "") << "\n";
  o << "    total model states " << with_commas(c.model_states.breakdown.total().value) << " B  "
    << iec(c.model_states.breakdown.total()) << "\n";
  o << "  Adapter activations: r-wide A outputs, " << with_commas(lr.adapter_activations_per_layer.value)
    << " B per kept layer and microbatch, " << with_commas(c.lora_activations.value) << " B in all (in activations)\n";
  return o.str();
}

}  // namespace trainmem::tools
