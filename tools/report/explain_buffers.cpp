#include "tools/report/explain_buffers.hpp"

#include "tools/report/format.hpp"

namespace trainmem::tools {

void explain_buffers(std::ostream& o, const sim::RankClass& c, const sim::Scenario& sc) {
  if (!c.buffer_shape) return;
  o << "  Buffers (held by the runtime beyond model states and saved activations; sim/accounting/step_buffers.hpp):\n";
  const auto terms = sim::step_buffer_terms(*c.buffer_shape, sc.zero_runtime);
  if (terms.empty()) o << "    none on this layout\n";
  for (const auto& t : terms) {
    o << "    " << pad(t.name, 58) << " " << pad(std::string(sim::category_name(t.category)), 12) << " "
      << lpad(with_commas(t.bytes.value), 17) << " B  " << lpad(iec(t.bytes), 11) << "  (" << t.lifetime << ")\n";
    o << "      " << t.formula << "\n      source: " << t.source << "\n";
  }
  if (c.peak_point.empty()) return;
  o << "  Peak point (sim/accounting/stage_peak.hpp): the largest of forward (A - X + gather + CP), loss (A + loss "
       "transient),\n"
    << "    backward (A - X + gather + layer grads + max(CP, activation gradients + recompute)) and p2p (A - X + "
       "send);\n"
    << "    A = saved activations in flight, X = one microbatch's loss extras (freed when its backward starts).\n"
    << "    here: " << c.peak_point << "  -> activations "
    << with_commas(c.bytes[sim::MemoryCategory::activations].value) << " + buffers "
    << with_commas(c.bytes[sim::MemoryCategory::buffers].value) << " + temporaries "
    << with_commas(c.bytes[sim::MemoryCategory::temporaries].value) << " B\n";
}

nlohmann::json buffers_json(const sim::RankClass& c, const sim::Scenario& sc) {
  using nlohmann::json;
  if (!c.buffer_shape) return nullptr;
  json terms = json::array();
  for (const auto& t : sim::step_buffer_terms(*c.buffer_shape, sc.zero_runtime))
    terms.push_back({{"name", t.name},
                     {"category", sim::category_name(t.category)},
                     {"lifetime", t.lifetime},
                     {"formula", t.formula},
                     {"source", t.source},
                     {"bytes", t.bytes.value}});
  return {{"peak_point", c.peak_point.empty() ? json(nullptr) : json(std::string(c.peak_point))}, {"terms", terms}};
}

}  // namespace trainmem::tools
