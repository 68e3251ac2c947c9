// `trainmem estimate --html`: the rank classes as bars by category against the device and the safety
// budget (report.js draws them), with the estimate's table as text.
#include <sstream>

#include "tools/report/html/html_page.hpp"
#include "tools/report/report.hpp"

namespace trainmem::tools {

std::string estimate_html(const sim::EstimateResult& r, const std::string& source) {
  nlohmann::json data;
  data["kind"] = "estimate";
  data["source"] = source;
  data["categories"] = html_categories();
  data["device"] = html_device(r.resolved.scenario);
  data["budget"] = html_budget(r.resolved.scenario);
  data["classes"] = html_rank_classes(r);
  std::ostringstream table;
  write_estimate_table(table, r, source);
  data["text"] = table.str();
  return html_page("trainmem estimate: " + source, data);
}

}  // namespace trainmem::tools
