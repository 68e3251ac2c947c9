#include "tools/report/report_simulate.hpp"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "tools/report/format.hpp"
#include "tools/report/report.hpp"

namespace trainmem::tools {
namespace {
using sim::MemoryCategory;

std::string schedule_name(sim::PipelineSchedule s) {
  for (const auto& info : sim::pipeline_schedules())
    if (info.schedule == s) return std::string(info.name);
  return "?";
}

// Stages with identical simulations are shown as one row.
std::vector<std::vector<std::size_t>> stage_groups(const sim::SimulationResult& r) {
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < r.stages.size(); ++i) {
    const auto& s = r.stages[i].simulation;
    auto same = std::find_if(groups.begin(), groups.end(), [&](const std::vector<std::size_t>& g) {
      const auto& o = r.stages[g.front()].simulation;
      return o.peak == s.peak && o.at_peak == s.at_peak && o.max_live_microbatches == s.max_live_microbatches &&
             r.stages[g.front()].inputs.layer_activation.size() == r.stages[i].inputs.layer_activation.size();
    });
    if (same == groups.end())
      groups.push_back({i});
    else
      same->push_back(i);
  }
  return groups;
}

std::string stage_list(const sim::SimulationResult& r, const std::vector<std::size_t>& g) {
  std::vector<std::int64_t> pp;
  pp.reserve(g.size());
  for (auto i : g) pp.push_back(r.stages[i].pp_rank);
  return rank_ranges(pp);
}

std::vector<std::int64_t> group_ranks(const sim::SimulationResult& r, const std::vector<std::size_t>& g) {
  std::vector<std::int64_t> ranks;
  for (auto i : g) ranks.insert(ranks.end(), r.stages[i].ranks.begin(), r.stages[i].ranks.end());
  return ranks;
}

constexpr struct {
  MemoryCategory cat;
  const char* title;
  const char* color;
} kCols[] = {
    {MemoryCategory::params, "params", "#4e79a7"},        {MemoryCategory::grads, "grads", "#f28e2b"},
    {MemoryCategory::master_params, "master", "#e15759"}, {MemoryCategory::optimizer_states, "optim", "#76b7b2"},
    {MemoryCategory::activations, "activ", "#59a14f"},    {MemoryCategory::buffers, "buffers", "#edc948"},
    {MemoryCategory::temporaries, "temps", "#b07aa1"},    {MemoryCategory::runtime, "runtime", "#9c755f"}};
}  // namespace

void write_simulation_table(std::ostream& out, const sim::SimulationResult& r, const std::string& source) {
  std::ostringstream header;
  write_estimate_table(header, r.estimate, source);
  // Reuse the estimate's resolved-configuration header lines (everything before the column titles).
  std::istringstream lines(header.str());
  std::string line;
  while (std::getline(lines, line) && line != "#")
    out << (line.rfind("# trainmem", 0) == 0 ? "# trainmem " + std::string(kVersion) + " simulate" : line) << "\n";
  out << "# schedule   " << schedule_name(r.schedule) << ", " << r.estimate.resolved.num_microbatches
      << " microbatches per step; peak = the largest total over the replayed step\n#\n";
  out << "#" << std::setw(6) << "stage" << std::setw(6) << "live";
  for (const auto& c : kCols) out << std::setw(9) << c.title;
  out << std::setw(10) << "peak"
      << "  event at the peak (ranks)\n";
  out << "#" << std::setw(6) << "" << std::setw(6) << "(mb)";
  for (std::size_t i = 0; i < std::size(kCols); ++i) out << std::setw(9) << "(GiB)";
  out << std::setw(10) << "(GiB)"
      << "\n";
  for (const auto& g : stage_groups(r)) {
    const auto& s = r.stages[g.front()];
    out << std::setw(7) << stage_list(r, g) << std::setw(6) << s.simulation.max_live_microbatches;
    for (const auto& c : kCols) out << std::setw(9) << gib(s.simulation.at_peak[c.cat]);
    out << std::setw(10) << gib(s.simulation.peak) << "  " << sim::describe(s.simulation.peak_event, s.pp_rank)
        << " (ranks " << rank_ranges(group_ranks(r, g)) << ")\n";
  }
  const auto& worst = r.stages[r.max_peak_stage];
  out << "# Max peak  : " << iec(r.max_peak) << " (" << with_commas(r.max_peak.value) << " bytes) on stage "
      << worst.pp_rank << ", " << sim::describe(worst.simulation.peak_event, worst.pp_rank) << "\n";
  if (r.estimate.gpu_memory) {
    out << "# Device    : " << iec(*r.estimate.gpu_memory) << ": "
        << (*r.fits ? "FITS, " + iec(*r.estimate.gpu_memory - r.max_peak) + " free on the fullest rank"
                    : "DOES NOT FIT, short by " + iec(r.max_peak - *r.estimate.gpu_memory))
        << "\n";
  }
  if (r.estimate.resolved.scenario.runtime.enabled)
    out << "# runtime   : held from step start: CUDA context, NCCL buffers, workspaces, allocator rounding and "
           "fragmentation reserve (docs/runtime-memory.md; --runtime off drops them)\n";
  else
    out << "# runtime   : off (--runtime off)\n";
}

nlohmann::json simulation_json(const sim::SimulationResult& r, const std::string& source) {
  nlohmann::json j = estimate_json(r.estimate, source);
  j["command"] = "simulate";
  j["schedule"] = schedule_name(r.schedule);
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& s : r.stages) {
    nlohmann::json at_peak, maxima;
    for (auto c : sim::kMemoryCategories) {
      at_peak[std::string(sim::category_name(c))] = s.simulation.at_peak[c].value;
      maxima[std::string(sim::category_name(c))] = s.simulation.category_max[c].value;
    }
    stages.push_back({{"pp_rank", s.pp_rank},
                      {"ranks", s.ranks},
                      {"peak_bytes", s.simulation.peak.value},
                      {"bytes_at_peak", at_peak},
                      {"category_max_bytes", maxima},
                      {"peak_event", sim::describe(s.simulation.peak_event, s.pp_rank)},
                      {"max_live_microbatches", s.simulation.max_live_microbatches}});
  }
  j["stages"] = stages;
  j["simulated_max_peak_bytes"] = r.max_peak.value;
  j["simulated_fits"] = r.fits ? nlohmann::json(*r.fits) : nlohmann::json(nullptr);
  return j;
}

void write_chrome_trace(std::ostream& o, const sim::SimulationResult& r) {
  // Streamed rather than built as a JSON document: a 1024-GPU step has ~10^5 counter samples.
  // Every string written is our own (stage lists, phase names): no JSON escaping is needed.
  o << "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"generator\":\"trainmem " << kVersion
    << "\",\"time_axis\":\"event index, not seconds\"},\"traceEvents\":[";
  bool first = true;
  auto sep = [&] {
    if (!first) o << ",";
    first = false;
    o << "\n";
  };
  for (const auto& g : stage_groups(r)) {
    const auto& s = r.stages[g.front()];
    const auto pid = s.pp_rank;
    sep();
    o << "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" << pid << ",\"args\":{\"name\":\"stage " << stage_list(r, g)
      << " (ranks " << rank_ranges(group_ranks(r, g)) << ")\"}}";
    const auto& ev = s.simulation.events;
    const auto& tl = s.simulation.timeline;
    // Counter track: bytes per category after every event; time axis = event order (1 us per event).
    for (const auto& sample : tl) {
      sep();
      o << "{\"name\":\"memory (bytes)\",\"ph\":\"C\",\"pid\":" << pid << ",\"ts\":" << sample.event << ",\"args\":{";
      for (std::size_t c = 0; c < std::size(kCols); ++c)
        o << (c == 0 ? "" : ",") << "\"" << kCols[c].title << "\":" << sample.bytes[kCols[c].cat].value;
      o << "}}";
    }
    // Phase slices: runs of events of the same forward/backward op.
    std::size_t start = 0;
    for (std::size_t i = 1; i <= ev.size(); ++i) {
      const bool boundary = i == ev.size() || ev[i].phase != ev[start].phase ||
                            ev[i].microbatch != ev[start].microbatch || ev[i].chunk != ev[start].chunk;
      if (!boundary) continue;
      static constexpr const char* kPhase[] = {"setup", "forward", "backward", "optimizer step"};
      std::string name = kPhase[static_cast<int>(ev[start].phase)];
      if (ev[start].microbatch >= 0) name += " mb " + std::to_string(ev[start].microbatch);
      if (r.estimate.resolved.scenario.parallel.vpp > 1 && ev[start].chunk >= 0)
        name += " chunk " + std::to_string(ev[start].chunk);
      sep();
      o << "{\"name\":\"" << name << "\",\"ph\":\"X\",\"pid\":" << pid << ",\"tid\":1,\"ts\":" << tl[start].event
        << ",\"dur\":" << std::max<std::uint32_t>(1, tl[i - 1].event - tl[start].event + 1) << "}";
      start = i;
    }
  }
  o << "\n]}\n";
}

std::string html_report(const sim::SimulationResult& r, const std::string& source) {
  std::ostringstream o;
  std::ostringstream table;
  write_simulation_table(table, r, source);
  auto escape = [](const std::string& s) {
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
  };
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trainmem simulate</title>\n"
    << "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
       "padding:2px "
       "8px;text-align:right;white-space:nowrap}th{background:#eee}pre{background:#f7f7f7;padding:1em;overflow-x:auto}"
       ".legend span{display:inline-block;margin-right:1em}.swatch{width:12px;height:12px;display:inline-block;"
       "margin-right:4px}</style></head><body>\n";
  o << "<h1>trainmem simulate</h1>\n<p>" << escape(source) << ": one training step replayed per pipeline stage. "
    << "Peak = the largest total bytes over the step; time axis = event order.</p>\n";
  o << "<div class=\"legend\">";
  for (const auto& c : kCols)
    o << "<span><span class=\"swatch\" style=\"background:" << c.color << "\"></span>" << c.title << "</span>";
  o << "</div>\n<h2>Stages</h2>\n<table id=\"stages\"><tr><th>stage</th><th>ranks</th><th>live microbatches</th>";
  for (const auto& c : kCols) o << "<th>" << c.title << " (GiB)</th>";
  o << "<th>peak (GiB)</th><th>event at the peak</th></tr>\n";
  for (const auto& g : stage_groups(r)) {
    const auto& s = r.stages[g.front()];
    o << "<tr class=\"rank-row\" data-stage=\"" << stage_list(r, g) << "\"><td>" << stage_list(r, g) << "</td><td>"
      << rank_ranges(group_ranks(r, g)) << "</td><td>" << s.simulation.max_live_microbatches << "</td>";
    for (const auto& c : kCols) o << "<td>" << gib(s.simulation.at_peak[c.cat]) << "</td>";
    o << "<td>" << gib(s.simulation.peak) << "</td><td style=\"text-align:left\">"
      << escape(sim::describe(s.simulation.peak_event, s.pp_rank)) << "</td></tr>\n";
  }
  o << "</table>\n<h2>Timelines</h2>\n";
  const double width = 900, height = 220;
  for (const auto& g : stage_groups(r)) {
    const auto& s = r.stages[g.front()];
    const auto& tl = s.simulation.timeline;
    if (tl.empty()) continue;
    const double ymax = static_cast<double>(s.simulation.peak.value) * 1.05 + 1;
    const double xmax = static_cast<double>(tl.back().event) + 1;
    // Stride so that an SVG never carries more than ~2000 points per series.
    const std::size_t stride = std::max<std::size_t>(1, tl.size() / 2000);
    o << "<h3>stage " << stage_list(r, g) << "</h3>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width
      << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << " " << height << "\">\n";
    std::vector<double> base(tl.size(), 0.0);
    for (const auto& c : kCols) {
      std::ostringstream top, bottom;
      bool any = false;
      std::vector<double> next = base;
      for (std::size_t i = 0; i < tl.size(); i += stride) {
        next[i] = base[i] + static_cast<double>(tl[i].bytes[c.cat].value);
        any = any || tl[i].bytes[c.cat].value != 0;
        top << fixed(static_cast<double>(tl[i].event) / xmax * width, 1) << ","
            << fixed(height - next[i] / ymax * height, 1) << " ";
      }
      for (std::size_t k = tl.size(); k-- > 0;) {
        if (k % stride != 0) continue;
        bottom << fixed(static_cast<double>(tl[k].event) / xmax * width, 1) << ","
               << fixed(height - base[k] / ymax * height, 1) << " ";
      }
      if (any)
        o << "<polygon fill=\"" << c.color << "\" points=\"" << top.str() << bottom.str() << "\"><title>" << c.title
          << "</title></polygon>\n";
      base = next;
    }
    o << "<text x=\"4\" y=\"14\" font-size=\"12\">peak " << iec(s.simulation.peak) << "</text></svg>\n";
  }
  o << "<h2>Table output</h2>\n<pre>" << escape(table.str()) << "</pre>\n</body></html>\n";
  return o.str();
}

}  // namespace trainmem::tools
