#include "tools/report/html/html_page.hpp"

#include "sim/planner/plan_space.hpp"
#include "tools/report/format.hpp"
#include "tools/report/html/html_assets.hpp"

namespace trainmem::tools {
namespace {

constexpr struct {
  sim::MemoryCategory cat;
  const char* title;
  const char* color;
} kCategories[] = {{sim::MemoryCategory::params, "params", "#4e79a7"},
                   {sim::MemoryCategory::grads, "grads", "#f28e2b"},
                   {sim::MemoryCategory::master_params, "master", "#e15759"},
                   {sim::MemoryCategory::optimizer_states, "optim", "#76b7b2"},
                   {sim::MemoryCategory::activations, "activ", "#59a14f"},
                   {sim::MemoryCategory::buffers, "buffers", "#edc948"},
                   {sim::MemoryCategory::temporaries, "temps", "#b07aa1"},
                   {sim::MemoryCategory::runtime, "runtime", "#9c755f"}};

std::string escape_text(const std::string& s) {
  std::string e;
  for (char ch : s) {
    if (ch == '<')
      e += "&lt;";
    else if (ch == '>')
      e += "&gt;";
    else if (ch == '&')
      e += "&amp;";
    else
      e += ch;
  }
  return e;
}

// JSON inside <script type="application/json">: "</" would end the element, so it becomes "<\/" (the
// same string to JSON.parse).
std::string script_safe_json(const nlohmann::json& data) {
  const std::string text = data.dump(-1, ' ', true);
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    out += text[i];
    if (text[i] == '<' && i + 1 < text.size() && text[i + 1] == '/') out += '\\';
  }
  return out;
}

}  // namespace

std::string html_page(const std::string& title, const nlohmann::json& data) {
  std::string page;
  page += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += "<title>" + escape_text(title) + "</title>\n<style>\n";
  page += assets::kReportCss;
  page += "</style></head><body>\n<main id=\"app\"><h1>" + escape_text(title) + "</h1>\n";
  page +=
      "<noscript><p>This report draws its charts with JavaScript; the data is in the page as JSON.</p></noscript>\n";
  page += "</main>\n<div id=\"tip\" role=\"status\" hidden></div>\n";
  page += "<script type=\"application/json\" id=\"trainmem-data\">" + script_safe_json(data) + "</script>\n<script>\n";
  page += assets::kReportJs;
  page += assets::kSimulateJs;
  page += assets::kPlanJs;
  page += assets::kCompareJs;
  page += "TM.main();\n</script>\n</body></html>\n";
  return page;
}

nlohmann::json html_categories() {
  nlohmann::json cats = nlohmann::json::array();
  for (const auto& c : kCategories)
    cats.push_back({{"key", std::string(sim::category_name(c.cat))}, {"title", c.title}, {"color", c.color}});
  return cats;
}

nlohmann::json html_device(const sim::Scenario& sc) {
  if (!sc.gpu_memory) return nullptr;
  return {{"name", sc.gpu_name.empty() ? iec(*sc.gpu_memory) + " device" : sc.gpu_name},
          {"bytes", sc.gpu_memory->value}};
}

nlohmann::json html_budget(const sim::Scenario& sc) {
  if (!sc.gpu_memory) return nullptr;
  // trainmem plan's default safety margin: 10% of the device kept free.
  const sim::PlanRequest defaults;
  return {{"bytes", sim::plan_budget(*sc.gpu_memory, defaults.safety_margin_ppm).value},
          {"label", "safety budget (10% kept free, plan's default margin)"}};
}

nlohmann::json html_rank_classes(const sim::EstimateResult& r) {
  nlohmann::json classes = nlohmann::json::array();
  for (std::size_t i = 0; i < r.classes.size(); ++i) {
    const auto& c = r.classes[i];
    nlohmann::json bytes = nlohmann::json::array();
    for (const auto& k : kCategories) bytes.push_back(c.bytes[k.cat].value);
    classes.push_back({{"label", "class " + std::to_string(i) + " (stage " + rank_ranges(c.pp_ranks) + ")"},
                       {"ranks", rank_ranges(c.ranks)},
                       {"peak", c.peak.value},
                       {"bytes", bytes},
                       {"point", std::string(c.peak_point)}});
    // --inference: the KV cache is in the peak but in no category.
    if (c.kv_cache.value > 0) classes.back()["extra"] = {{"title", "kv cache"}, {"bytes", c.kv_cache.value}};
  }
  return classes;
}

}  // namespace trainmem::tools
