#include "tools/cli/compare_timeline.hpp"

#include <algorithm>

#include "tools/report/format.hpp"
#include "tools/report/html/timeline_downsample.hpp"

namespace trainmem::tools {
namespace {

// {x, bytes, peak_bytes, peak_x} of the samples `keep` of (xs, values); peak: the first largest value.
nlohmann::json series(const std::vector<std::uint64_t>& xs, const std::vector<std::uint64_t>& values,
                      std::size_t buckets) {
  const auto top = static_cast<std::size_t>(std::max_element(values.begin(), values.end()) - values.begin());
  nlohmann::json x = nlohmann::json::array(), bytes = nlohmann::json::array();
  for (const std::size_t i : downsample_series(values, buckets, top)) {
    x.push_back(xs[i]);
    bytes.push_back(values[i]);
  }
  return {{"x", x}, {"bytes", bytes}, {"peak_bytes", values[top]}, {"peak_x", xs[top]}, {"samples", values.size()}};
}

}  // namespace

nlohmann::json measured_timeline_json(const MeasuredMemory& m, std::size_t buckets) {
  const MeasuredDevice* dev = nullptr;
  for (const auto& d : m.devices)
    if (d.allocated_peak_blocks == m.peak && !d.timeline.empty()) {
      dev = &d;
      break;
    }
  if (dev == nullptr) return nullptr;
  std::vector<std::uint64_t> xs, allocated, reserved;
  for (const auto& s : dev->timeline) {
    xs.push_back(s.x);
    allocated.push_back(s.allocated_blocks);
    reserved.push_back(s.reserved);
  }
  return {{"device", dev->device},
          {"x_unit", "trace entry"},
          {"x_first", 0},
          {"x_last", dev->trace_entries},
          {"allocated", series(xs, allocated, buckets)},
          {"reserved", series(xs, reserved, buckets)}};
}

nlohmann::json predicted_timeline_json(const sim::SimulationResult& r, std::size_t buckets) {
  const std::size_t cls = r.estimate.max_peak_class;
  const auto stage = std::find_if(r.stages.begin(), r.stages.end(),
                                  [&](const sim::StageReport& s) { return s.estimate_class == cls; });
  if (stage == r.stages.end() || stage->simulation.timeline.empty()) return nullptr;
  const sim::RankClass& c = r.estimate.classes.at(cls);
  const auto& tl = stage->simulation.timeline;
  std::vector<std::uint64_t> xs, allocated;
  for (const auto& s : tl) {
    xs.push_back(s.event);
    allocated.push_back((s.bytes.total() - s.bytes[sim::MemoryCategory::runtime] + c.runtime.workspaces).value);
  }
  nlohmann::json j{{"stage", stage->pp_rank},     {"ranks", rank_ranges(stage->ranks)},
                   {"x_unit", "simulated event"}, {"x_first", tl.front().event},
                   {"x_last", tl.back().event},   {"allocated", series(xs, allocated, buckets)}};
  j["stage_peak_text"] = sim::describe(stage->simulation.peak_event, stage->pp_rank);
  return j;
}

}  // namespace trainmem::tools
