#include "tools/cli/compare_cli.hpp"

#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "partition/error.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/engine/simulate.hpp"
#include "tools/cli/cli.hpp"
#include "tools/cli/command_line.hpp"
#include "tools/cli/compare_timeline.hpp"
#include "tools/cli/output_file.hpp"
#include "tools/inputs/ecosystem_inputs.hpp"
#include "tools/inputs/measured_memory.hpp"
#include "tools/inputs/scenario_builder.hpp"
#include "tools/inputs/scenario_file.hpp"
#include "tools/report/format.hpp"
#include "tools/report/html/html_page.hpp"

namespace trainmem::tools {
namespace {

using json = nlohmann::json;

// The measured figures are the caching allocator's (allocated, reserved), so they are compared with trainmem's
// allocated and reserved bytes, not its device peak (which adds the CUDA context and NCCL).
struct Predicted {
  std::uint64_t allocated = 0;
  std::uint64_t peak = 0;
  std::optional<std::uint64_t> reserved;  // with the runtime model on
  std::map<std::string, std::uint64_t> categories;
};

Predicted predict(const sim::EstimateResult& r) {
  Predicted p;
  const sim::RankClass& c = r.classes.at(r.max_peak_class);
  p.allocated = c.allocated.value;
  p.peak = r.max_peak.value;
  if (r.resolved.scenario.runtime.enabled) p.reserved = c.reserved.value;
  for (auto cat : sim::kMemoryCategories) p.categories[std::string(sim::category_name(cat))] = c.bytes[cat].value;
  return p;
}

// predicted - measured, signed, and in percent of measured.
std::string signed_commas(std::uint64_t predicted, std::uint64_t measured) {
  return predicted >= measured ? "+" + with_commas(predicted - measured) : "-" + with_commas(measured - predicted);
}
std::string percent(std::uint64_t predicted, std::uint64_t measured) {
  if (measured == 0) return "n/a";
  std::ostringstream o;
  const double d = (static_cast<double>(predicted) - static_cast<double>(measured)) / static_cast<double>(measured);
  o << std::showpos << std::fixed << std::setprecision(2) << 100.0 * d << "%";
  return o.str();
}
json difference(std::uint64_t predicted, std::uint64_t measured) {
  const auto d = static_cast<long double>(predicted) - static_cast<long double>(measured);
  return {{"bytes", static_cast<std::int64_t>(d)},
          {"percent", measured == 0 ? json(nullptr) : json(static_cast<double>(100.0L * d / measured))}};
}

json measured_json(const MeasuredMemory& m) {
  json j{{"file", m.path},
         {"source", m.source == MeasuredMemory::Source::snapshot ? "snapshot" : "lab_json"},
         {"peak_bytes", m.peak},
         {"reserved_peak_bytes", m.reserved_peak ? json(*m.reserved_peak) : json(nullptr)}};
  if (m.peak_unrounded) j["peak_bytes_unrounded"] = *m.peak_unrounded;
  if (!m.name.empty()) j["name"] = m.name;
  if (!m.phase.empty()) j["phase"] = m.phase;
  if (!m.categories.empty()) j["categories"] = m.categories;
  if (m.source == MeasuredMemory::Source::snapshot) {
    j["devices"] = json::array();
    for (const auto& d : m.devices)
      j["devices"].push_back({{"device", d.device},
                              {"allocated_peak_bytes", d.allocated_peak},
                              {"allocated_peak_block_bytes", d.allocated_peak_blocks},
                              {"allocated_at_trace_start_bytes", d.allocated_at_start},
                              {"allocated_at_end_bytes", d.allocated_at_end},
                              {"reserved_peak_bytes", d.reserved_peak},
                              {"reserved_at_trace_start_bytes", d.reserved_at_start},
                              {"reserved_at_end_bytes", d.reserved_at_end},
                              {"trace_entries", d.trace_entries},
                              {"allocs", d.allocs},
                              {"frees_completed", d.frees},
                              {"segments", d.segments}});
  }
  return j;
}

void write_table(std::ostream& out, const MeasuredMemory& m, const Predicted& p, const std::string& model_source) {
  out << "# trainmem compare: measured " << m.path << " vs predicted (" << model_source << ")\n";
  if (m.source == MeasuredMemory::Source::snapshot) {
    for (const auto& d : m.devices) {
      out << "measured   device " << d.device << ": allocated peak " << with_commas(d.allocated_peak)
          << " B requested, " << with_commas(d.allocated_peak_blocks) << " B in 512 B blocks; reserved peak "
          << with_commas(d.reserved_peak) << " B\n"
          << "           trace " << d.trace_entries << " entries (" << d.allocs << " alloc, " << d.frees
          << " free_completed), " << d.segments << " segments; live at the trace's start "
          << with_commas(d.allocated_at_start) << " B allocated, " << with_commas(d.reserved_at_start)
          << " B reserved\n";
    }
  } else {
    out << "measured   lab " << (m.name.empty() ? "result" : m.name) << ": peak " << with_commas(m.peak)
        << " B (512 B blocks)";
    if (m.peak_unrounded) out << ", " << with_commas(*m.peak_unrounded) << " B unrounded";
    if (!m.phase.empty()) out << ", at " << m.phase;
    if (m.reserved_peak) out << "; emulated reserved peak " << with_commas(*m.reserved_peak) << " B";
    out << "\n";
  }
  out << "predicted  allocated " << with_commas(p.allocated) << " B";
  if (p.reserved) out << "; reserved " << with_commas(*p.reserved) << " B; device peak " << with_commas(p.peak) << " B";
  out << "\nallocated  predicted - measured = " << signed_commas(p.allocated, m.peak) << " B ("
      << percent(p.allocated, m.peak) << ")\n";
  if (p.reserved && m.reserved_peak)
    out << "reserved   predicted - measured = " << signed_commas(*p.reserved, *m.reserved_peak) << " B ("
        << percent(*p.reserved, *m.reserved_peak) << ")\n";
  if (m.categories.empty()) return;
  out << "\n"
      << std::left << std::setw(18) << "category" << std::right << std::setw(16) << "measured" << std::setw(16)
      << "predicted" << std::setw(16) << "difference\n";
  for (const auto& [name, measured] : m.categories) {
    const auto it = p.categories.find(name);
    const std::uint64_t predicted = it == p.categories.end() ? 0 : it->second;
    out << std::left << std::setw(18) << name << std::right << std::setw(16) << with_commas(measured) << std::setw(16)
        << with_commas(predicted) << std::setw(16) << signed_commas(predicted, measured) << "\n";
  }
  for (const auto& [name, predicted] : p.categories)
    if (!m.categories.contains(name) && predicted != 0)
      out << std::left << std::setw(18) << name << std::right << std::setw(16) << "(not measured)" << std::setw(16)
          << with_commas(predicted) << "\n";
}

// The JSON of --format json, which the --html page also draws (so the two agree).
json compare_json(const MeasuredMemory& measured, const Predicted& predicted, const BuiltScenario& built,
                  const std::optional<sim::SimulationResult>& replay) {
  json j{{"schema_version", 1}, {"tool", "trainmem"}, {"command", "compare"}, {"measured", measured_json(measured)}};
  j["measured"]["timeline"] = measured_timeline_json(measured);
  j["predicted"] = {{"allocated_bytes", predicted.allocated},
                    {"peak_bytes", predicted.peak},
                    {"reserved_bytes", predicted.reserved ? json(*predicted.reserved) : json(nullptr)},
                    {"categories", predicted.categories},
                    {"model", built.model_source},
                    {"timeline", replay ? predicted_timeline_json(*replay) : json(nullptr)}};
  j["difference"] = {{"allocated", difference(predicted.allocated, measured.peak)}};
  if (predicted.reserved && measured.reserved_peak)
    j["difference"]["reserved"] = difference(*predicted.reserved, *measured.reserved_peak);
  if (!measured.categories.empty()) {
    json by = json::object();
    for (const auto& [name, bytes] : measured.categories) {
      const auto it = predicted.categories.find(name);
      by[name] = difference(it == predicted.categories.end() ? 0 : it->second, bytes);
    }
    j["difference"]["categories"] = by;
  }
  return j;
}

}  // namespace

int cmd_compare(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  const auto measured_path = take_path_flag(args, "measured");
  const auto html_path = take_path_flag(args, "html");
  const CommandLine cl = parse_command_line(args);
  if (cl.help) {
    out << "usage: trainmem compare [scenario.yaml] [options] --measured FILE [--html report.html]\n\n"
        << "What a real run measured beside trainmem's predicted peak for the same scenario (docs/report.md).\n"
        << "  --measured FILE  a PyTorch CUDA memory snapshot (torch.cuda.memory._dump_snapshot(path): its trace is\n"
        << "                   replayed, alloc +size, free_completed -size; segment_alloc/segment_free for reserved)\n"
        << "                   or a ground-truth lab result JSON (tools/groundtruth; with categories)\n"
        << "  --html FILE      also write a self-contained HTML page: the measured allocated and reserved timelines\n"
        << "                   over trainmem's step replay of the same rank, both peaks marked, the difference by\n"
        << "                   category\n\n"
        << options_help();
    return kExitOk;
  }
  if (!measured_path)
    throw ConfigError("measured", "", "trainmem compare needs --measured FILE (a memory snapshot pickle or lab JSON)");
  const MeasuredMemory measured = read_measured_memory("measured", *measured_path);
  Settings s;
  if (cl.scenario_path) s = load_scenario_file(*cl.scenario_path);
  std::ostringstream notices;
  const BuiltScenario built = build_scenario_with_inputs(merge(std::move(s), cl.settings), notices);
  if (built.scenario.inference.enabled)
    throw ConfigError("inference", "true", "compare measures a training step; serving is not compared");
  // The predicted timeline is simulate()'s step replay, which keeps every event only up to
  // kMaxTimelineMicrobatches microbatches; beyond that the JSON's predicted.timeline is null. The table shows no
  // timeline, so it skips the replay (at that limit ~1 GB and seconds for GPT-3 175B's 16 stages). The replay
  // carries the estimate it replays, so estimate() runs on its own only without one.
  std::optional<sim::SimulationResult> replay;
  const bool timelines = html_path.has_value() || built.output.format == OutputFormat::json;
  if (timelines && sim::resolve_scenario(built.scenario).num_microbatches <= sim::kMaxTimelineMicrobatches)
    replay = sim::simulate(built.scenario, true);
  const sim::EstimateResult result = replay ? replay->estimate : sim::estimate(built.scenario);
  const Predicted predicted = predict(result);
  err << notices.str();
  for (const auto& w : result.resolved.warnings) err << "trainmem: warning: " << w << "\n";
  const json j = compare_json(measured, predicted, built, replay);
  std::ostringstream table;
  write_table(table, measured, predicted, built.model_source);
  if (html_path)
    write_output_file("html", *html_path, [&](std::ostream& f) {
      json data = j;
      data["kind"] = "compare";
      data["categories"] = html_categories();
      data["text"] = table.str();
      f << html_page("trainmem compare: " + measured.path, data);
    });
  if (built.output.format == OutputFormat::json)
    out << j.dump(2) << "\n";
  else
    out << table.str();
  return kExitOk;
}

}  // namespace trainmem::tools
