#include "tools/report/report_framework.hpp"

#include <sstream>

#include "tools/report/format.hpp"

namespace trainmem::tools {

using nlohmann::json;

namespace {
json terms_json(const std::vector<sim::FrameworkTerm>& terms) {
  json a = json::array();
  for (const auto& t : terms)
    a.push_back({{"name", t.name},
                 {"category", sim::category_name(t.category)},
                 {"formula", t.formula},
                 {"source", t.source},
                 {"bytes", t.bytes.value}});
  return a;
}
}  // namespace

void add_framework_json(json& doc, const sim::EstimateResult& r) {
  const auto& t = r.resolved.scenario.training;
  if (t.framework != sim::Framework::hf) return;
  doc["config"]["framework"] = sim::framework_name(t.framework);
  doc["config"]["optimizer_impl"] =
      sim::optimizer_impl_name(t.optimizer_impl.value_or(sim::default_optimizer_impl(t.framework)));
  for (std::size_t i = 0; i < r.classes.size(); ++i) {
    const auto& c = r.classes[i];
    if (!c.framework_step) continue;
    const auto& f = *c.framework_step;
    json points = json::array();
    for (const auto& p : f.points) {
      json bytes;
      for (auto cat : sim::kMemoryCategories) bytes[std::string(sim::category_name(cat))] = p.bytes[cat].value;
      points.push_back(
          {{"name", p.name}, {"bytes", bytes}, {"total", p.bytes.total().value}, {"terms", terms_json(p.terms)}});
    }
    doc["ranks"][i]["framework_step"] = {{"peak_point", f.peak().name},
                                         {"layer_bytes", f.layer_bytes.value},
                                         {"kept_per_layer", f.kept_per_layer.value},
                                         {"layer_terms", terms_json(f.layer_terms)},
                                         {"points", points}};
  }
}

std::string explain_framework(const sim::EstimateResult& r) {
  const auto& t = r.resolved.scenario.training;
  if (t.framework != sim::Framework::hf) return "";
  std::ostringstream o;
  o << "Framework profile hf (transformers + Trainer on PyTorch; docs/frameworks.md), optimizer implementation "
    << sim::optimizer_impl_name(t.optimizer_impl.value_or(sim::default_optimizer_impl(t.framework)))
    << ".\nThe peak is the largest of the step's points, each the sum of what is live there.\n";
  for (std::size_t i = 0; i < r.classes.size(); ++i) {
    const auto& c = r.classes[i];
    if (!c.framework_step) continue;
    const auto& f = *c.framework_step;
    o << "Rank class " << i << ": one transformer layer, one microbatch keeps " << with_commas(f.layer_bytes.value)
      << " B:\n";
    for (const auto& x : f.layer_terms)
      o << "    " << pad(x.name, 70) << " " << pad(x.formula, 44) << "  [" << x.source << "]\n";
    for (std::size_t k = 0; k < f.points.size(); ++k) {
      const auto& p = f.points[k];
      o << "  Point: " << p.name << (k == f.peak_point ? "  <- peak" : "") << "\n";
      for (const auto& x : p.terms)
        o << "    " << pad(x.name, 70) << " " << pad(std::string(sim::category_name(x.category)), 17) << " "
          << pad(x.formula, 40) << "  [" << x.source << "]\n";
      o << "    " << pad("total", 70) << " " << with_commas(p.bytes.total().value) << " B  " << iec(p.bytes.total())
        << "\n";
    }
  }
  o << "\n";
  return o.str();
}

}  // namespace trainmem::tools
