// `trainmem simulate --trace`: Chrome trace event JSON ({"traceEvents": [...], "displayTimeUnit": "ms"}), the
// format Perfetto (ui.perfetto.dev) and chrome://tracing open. One process per group of identical stages:
//   * counters (ph "C") named "stage P" with one argument per series, which Perfetto shows as the tracks
//     "stage P allocated (bytes)" (the total) and "stage P <category> (bytes)" (a category is written only
//     when it changed since the previous sample: a counter holds its value until its next sample);
//   * slices (ph "X") on the thread "schedule": one per run of events of the same phase, microbatch and chunk
//     ("forward mb 3"; dur = its number of events), with the microbatch, chunk and layers in args;
//   * an instant event (ph "i") at the stage's peak, with the event and its bytes in args.
// Time: ts is in microseconds, and one simulated event is 1 us (event order, not modelled time).
#include <algorithm>
#include <string>

#include "tools/report/format.hpp"
#include "tools/report/html/timeline_downsample.hpp"
#include "tools/report/report.hpp"
#include "tools/report/report_simulate.hpp"
#include "tools/report/stage_groups.hpp"

namespace trainmem::tools {
namespace {

// JSON string contents: the strings written here are ours (stage lists, phase names, event descriptions),
// but quotes and backslashes are escaped all the same.
std::string json_text(const std::string& s) {
  std::string e;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') e += '\\';
    e += ch;
  }
  return e;
}

std::string layer_range(const std::vector<sim::StepEvent>& ev, std::size_t from, std::size_t to) {
  std::int32_t lo = -1, hi = -1;
  for (std::size_t i = from; i < to; ++i) {
    if (ev[i].layer < 0) continue;
    lo = lo < 0 ? ev[i].layer : std::min(lo, ev[i].layer);
    hi = std::max(hi, ev[i].layer);
  }
  if (lo < 0) return "";
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}

}  // namespace

void write_chrome_trace(std::ostream& o, const sim::SimulationResult& r, std::size_t max_samples) {
  // Streamed rather than built as a JSON document: a 1024-GPU step has ~10^5 events.
  o << "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"generator\":\"trainmem " << kVersion
    << "\",\"time_unit\":\"1 us = 1 simulated event (event order, not modelled time)\",\"counters\":\""
    << (max_samples == 0 ? std::string("every event")
                         : "at most " + std::to_string(max_samples) +
                               " samples per stage: each bucket's largest and smallest total, the peak always")
    << "\"},\"traceEvents\":[";
  bool first = true;
  auto sep = [&] {
    if (!first) o << ",";
    first = false;
    o << "\n";
  };
  for (const auto& g : stage_groups(r)) {
    const auto& s = r.stages[g.front()];
    const auto pid = s.pp_rank;
    const std::string stage = "stage " + stage_list(r, g);
    sep();
    o << "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" << pid << ",\"args\":{\"name\":\"" << stage << " (ranks "
      << rank_ranges(group_ranks(r, g)) << ")\"}}";
    sep();
    o << "{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":" << pid << ",\"args\":{\"sort_index\":" << pid << "}}";
    sep();
    o << "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":" << pid << ",\"tid\":1,\"args\":{\"name\":\"schedule\"}}";
    const auto& ev = s.simulation.events;
    const auto& tl = s.simulation.timeline;
    const std::size_t peak = sample_of_event(tl, s.simulation.peak_event_index);
    const std::vector<std::size_t> keep = downsample_timeline(tl, max_samples / 2, peak);
    const sim::MemoryBreakdown* last = nullptr;
    for (const std::size_t i : keep) {
      sep();
      o << "{\"name\":\"" << stage << "\",\"ph\":\"C\",\"pid\":" << pid << ",\"ts\":" << tl[i].event
        << ",\"args\":{\"allocated (bytes)\":" << tl[i].bytes.total().value;
      for (const auto c : sim::kMemoryCategories)
        if (last == nullptr || (*last)[c] != tl[i].bytes[c])
          o << ",\"" << sim::category_name(c) << " (bytes)\":" << tl[i].bytes[c].value;
      o << "}}";
      last = &tl[i].bytes;
    }
    if (peak < tl.size()) {
      sep();
      o << "{\"name\":\"peak " << iec(s.simulation.peak) << "\",\"ph\":\"i\",\"s\":\"p\",\"pid\":" << pid
        << ",\"tid\":1,\"ts\":" << tl[peak].event << ",\"args\":{\"event\":\""
        << json_text(sim::describe(s.simulation.peak_event, s.pp_rank)) << "\",\"bytes\":" << s.simulation.peak.value
        << "}}";
    }
    // Slices: runs of events of the same phase, microbatch and chunk.
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
        << ",\"dur\":" << std::max<std::uint32_t>(1, tl[i - 1].event - tl[start].event + 1) << ",\"args\":{";
      const std::string layers = layer_range(ev, start, i);
      std::string args;
      if (ev[start].microbatch >= 0) args += ",\"microbatch\":" + std::to_string(ev[start].microbatch);
      if (ev[start].chunk >= 0) args += ",\"chunk\":" + std::to_string(ev[start].chunk);
      if (!layers.empty()) args += ",\"layers\":\"" + layers + "\"";
      o << (args.empty() ? args : args.substr(1));
      o << "}}";
      start = i;
    }
  }
  o << "\n]}\n";
}

}  // namespace trainmem::tools
