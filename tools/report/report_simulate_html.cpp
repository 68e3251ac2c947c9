// `trainmem simulate --html`: the data of the report (report.js draws it). Per group of identical stages the
// timeline is downsampled (timeline_downsample.hpp) to at most 2 x kHtmlBuckets samples, the peak kept; a
// category constant over the step is one number instead of a series. Each sample carries its event (phase,
// microbatch, layer, chunk and what, an index into "whats") for the hover text.
#include <map>
#include <sstream>

#include "tools/report/format.hpp"
#include "tools/report/html/html_page.hpp"
#include "tools/report/html/timeline_downsample.hpp"
#include "tools/report/report.hpp"
#include "tools/report/report_simulate.hpp"
#include "tools/report/stage_groups.hpp"

namespace trainmem::tools {
namespace {

constexpr std::size_t kHtmlBuckets = 400;  // 800 samples: about one per 1.5 pixel columns at 1280 px

std::string schedule_title(sim::PipelineSchedule s) {
  for (const auto& info : sim::pipeline_schedules())
    if (info.schedule == s) return std::string(info.name);
  return "?";
}

}  // namespace

std::string html_report(const sim::SimulationResult& r, const std::string& source) {
  nlohmann::json data;
  data["kind"] = "simulate";
  data["source"] = source;
  data["schedule"] = schedule_title(r.schedule);
  data["microbatches"] = r.estimate.resolved.num_microbatches;
  data["categories"] = html_categories();
  data["device"] = html_device(r.estimate.resolved.scenario);
  data["budget"] = html_budget(r.estimate.resolved.scenario);
  data["classes"] = html_rank_classes(r.estimate);
  std::map<std::string, int> what_index;
  nlohmann::json whats = nlohmann::json::array();
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& g : stage_groups(r)) {
    const auto& s = r.stages[g.front()];
    const auto& tl = s.simulation.timeline;
    const auto& ev = s.simulation.events;
    if (tl.empty()) continue;
    const std::size_t peak = sample_of_event(tl, s.simulation.peak_event_index);
    const std::vector<std::size_t> keep = downsample_timeline(tl, kHtmlBuckets, peak);
    nlohmann::json x = nlohmann::json::array(), ph = x, mb = x, ly = x, ck = x, wh = x, series = x;
    for (const std::size_t i : keep) {
      x.push_back(tl[i].event);
      ph.push_back(static_cast<int>(ev[i].phase));
      mb.push_back(ev[i].microbatch);
      ly.push_back(ev[i].layer);
      ck.push_back(ev[i].chunk);
      const auto [at, added] = what_index.emplace(ev[i].what, static_cast<int>(whats.size()));
      if (added) whats.push_back(ev[i].what);
      wh.push_back(at->second);
    }
    for (const auto c : sim::kMemoryCategories) {
      bool constant = true;
      for (const auto& sample : tl) constant = constant && sample.bytes[c] == tl.front().bytes[c];
      if (constant) {
        series.push_back(tl.front().bytes[c].value);
        continue;
      }
      nlohmann::json values = nlohmann::json::array();
      for (const std::size_t i : keep) values.push_back(tl[i].bytes[c].value);
      series.push_back(values);
    }
    nlohmann::json at_peak = nlohmann::json::array();
    for (const auto c : sim::kMemoryCategories) at_peak.push_back(s.simulation.at_peak[c].value);
    stages.push_back({{"label", "stage " + stage_list(r, g)},
                      {"ranks", rank_ranges(group_ranks(r, g))},
                      {"live", s.simulation.max_live_microbatches},
                      {"peak", s.simulation.peak.value},
                      {"peak_x", s.simulation.peak_event_index},
                      {"peak_text", sim::describe(s.simulation.peak_event, s.pp_rank)},
                      {"at_peak", at_peak},
                      {"events", tl.size()},
                      {"x", x},
                      {"series", series},
                      {"ph", ph},
                      {"mb", mb},
                      {"ly", ly},
                      {"ck", ck},
                      {"wh", wh}});
  }
  data["whats"] = whats;
  data["stages"] = stages;
  std::ostringstream table;
  write_simulation_table(table, r, source);
  data["text"] = table.str();
  return html_page("trainmem simulate: " + source, data);
}

}  // namespace trainmem::tools
