#include "tools/report/report_simulate.hpp"

#include <iomanip>
#include <sstream>

#include "tools/report/format.hpp"
#include "tools/report/report.hpp"
#include "tools/report/stage_groups.hpp"

namespace trainmem::tools {
namespace {
using sim::MemoryCategory;

std::string schedule_name(sim::PipelineSchedule s) {
  for (const auto& info : sim::pipeline_schedules())
    if (info.schedule == s) return std::string(info.name);
  return "?";
}

constexpr struct {
  MemoryCategory cat;
  const char* title;
} kCols[] = {{MemoryCategory::params, "params"},        {MemoryCategory::grads, "grads"},
             {MemoryCategory::master_params, "master"}, {MemoryCategory::optimizer_states, "optim"},
             {MemoryCategory::activations, "activ"},    {MemoryCategory::buffers, "buffers"},
             {MemoryCategory::temporaries, "temps"},    {MemoryCategory::runtime, "runtime"}};
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

}  // namespace trainmem::tools
