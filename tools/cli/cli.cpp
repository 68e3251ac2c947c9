#include "tools/cli/cli.hpp"

#include <algorithm>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "partition/error.hpp"
#include "partition/model_presets.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/engine/simulate.hpp"
#include "sim/runtime/device_spec.hpp"
#include "tools/cli/command_line.hpp"
#include "tools/cli/compare_cli.hpp"
#include "tools/cli/deepspeed_estimator_cli.hpp"
#include "tools/cli/explain_scenario.hpp"
#include "tools/cli/output_file.hpp"
#include "tools/cli/plan/plan_cli.hpp"
#include "tools/inputs/ecosystem_inputs.hpp"
#include "tools/inputs/scenario_builder.hpp"
#include "tools/inputs/scenario_file.hpp"
#include "tools/inputs/value_parse.hpp"
#include "tools/report/format.hpp"
#include "tools/report/report.hpp"
#include "tools/report/report_simulate.hpp"

namespace trainmem::tools {
namespace {

constexpr const char* kUsage =
    "usage: trainmem <command> [scenario.yaml] [options]\n"
    "\n"
    "commands:\n"
    "  estimate   per-rank memory of a training job with a breakdown (--inference: of serving)\n"
    "  simulate   replay one training step per pipeline stage: when and why each rank peaks\n"
    "             (--trace out.json: Chrome trace for Perfetto; --html report.html)\n"
    "  explain    the interview-style answer for a scenario file: question, terms with formulas,\n"
    "             total, and what-ifs (each ZeRO stage, recipe and recompute granularity)\n"
    "  plan       search the layouts that fit a device, fewest GPUs first (--min-gpus, --num-gpus N,\n"
    "             --why-not; trainmem plan --help)\n"
    "  compare    measured vs predicted: a PyTorch memory snapshot (or lab JSON) beside the estimate\n"
    "             (--measured FILE; trainmem compare --help)\n"
    "  models     list the model presets and GPU names\n"
    "\n"
    "  trainmem estimate --help   lists every option; trainmem --version prints the version\n";

Settings settings_for(const CommandLine& cl) {
  Settings s;
  if (cl.scenario_path) s = load_scenario_file(*cl.scenario_path);
  return merge(std::move(s), cl.settings);
}

int cmd_estimate(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  const auto html_path = take_path_flag(args, "html");
  const CommandLine cl = parse_command_line(args);
  if (cl.help) {
    out << "usage: trainmem estimate [scenario.yaml] [options]\n\n"
        << "Per-rank memory of a training job (LoRA/QLoRA with --lora-rank), or of serving with --inference.\n"
        << "Flags override the scenario file's keys.\n"
        << "  --html FILE    also write a self-contained HTML page: the rank classes as bars against the device\n\n"
        << options_help();
    return kExitOk;
  }
  std::ostringstream notices;  // printed once the estimate succeeded: an input error stays one line
  const BuiltScenario built = build_scenario_with_inputs(settings_for(cl), notices);
  const sim::EstimateResult result = sim::estimate(built.scenario);
  if (html_path)
    write_output_file("html", *html_path, [&](std::ostream& f) { f << estimate_html(result, built.model_source); });
  err << notices.str();
  for (const auto& w : result.resolved.warnings) err << "trainmem: warning: " << w << "\n";
  if (built.output.format == OutputFormat::json) {
    nlohmann::json j = estimate_json(result, built.model_source);
    if (built.output.explain) j["explain"] = explain_estimate(result);
    out << j.dump(2) << "\n";
  } else {
    write_estimate_table(out, result, built.model_source);
    if (built.output.explain) out << explain_estimate(result);
  }
  return result.fits.value_or(true) ? kExitOk : kExitDoesNotFit;
}

int cmd_simulate(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  const auto trace_path = take_path_flag(args, "trace");
  const auto html_path = take_path_flag(args, "html");
  const CommandLine cl = parse_command_line(args);
  if (cl.help) {
    out << "usage: trainmem simulate [scenario.yaml] [options] [--trace out.json] [--html report.html]\n\n"
        << "Replays one training step per pipeline stage over the real schedule (1F1B, interleaved, GPipe,\n"
        << "gradient accumulation) and reports each stage's peak and the event that reached it.\n"
        << "  --trace FILE   Chrome trace event JSON for Perfetto: per-stage counters, forward/backward slices;\n"
        << "                 1 us per simulated event (docs/report.md)\n"
        << "  --html FILE    self-contained HTML report: every stage on one byte axis against the device, the\n"
        << "                 peaks with their events, a hover breakdown, zoom, the rank-class bars (docs/report.md)\n\n"
        << options_help();
    return kExitOk;
  }
  std::ostringstream notices;
  const BuiltScenario built = build_scenario_with_inputs(settings_for(cl), notices);
  if (built.scenario.inference.enabled)
    throw ConfigError("inference", "true", "simulate replays a training step; use `trainmem estimate --inference`");
  if (built.scenario.lora.enabled() && built.scenario.training.framework != sim::Framework::hf)
    throw ConfigError("lora_rank", std::to_string(built.scenario.lora.rank),
                      "LoRA is replayed under --framework hf only (`trainmem estimate` models it for megatron)");
  const sim::SimulationResult result = sim::simulate(built.scenario, trace_path.has_value() || html_path.has_value());
  if (trace_path) write_output_file("trace", *trace_path, [&](std::ostream& f) { write_chrome_trace(f, result); });
  if (html_path)
    write_output_file("html", *html_path, [&](std::ostream& f) { f << html_report(result, built.model_source); });
  err << notices.str();
  for (const auto& w : result.estimate.resolved.warnings) err << "trainmem: warning: " << w << "\n";
  if (built.output.format == OutputFormat::json)
    out << simulation_json(result, built.model_source).dump(2) << "\n";
  else
    write_simulation_table(out, result, built.model_source);
  return result.fits.value_or(true) ? kExitOk : kExitDoesNotFit;
}

int cmd_models(const std::vector<std::string>& args, std::ostream& out) {
  bool json_out = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string value;
    if (a == "--format" && i + 1 < args.size())
      value = args[++i];
    else if (a.rfind("--format=", 0) == 0)
      value = a.substr(9);
    else if (a == "--help" || a == "-h") {
      out << "usage: trainmem models [--format table|json]\n";
      return kExitOk;
    } else
      throw ConfigError("option", a, "unknown option for `trainmem models` (only --format)");
    json_out = parse_choice("format", value, {"table", "json"}) == "json";
  }
  if (json_out) {
    nlohmann::json j;
    j["schema_version"] = 1;
    j["models"] = nlohmann::json::array();
    for (const auto& p : model_presets())
      j["models"].push_back({{"name", p.name},
                             {"num_parameters", total_parameters(p.spec).value},
                             {"num_layers", p.spec.num_layers},
                             {"hidden_size", p.spec.hidden_size},
                             {"num_attention_heads", p.spec.num_attention_heads},
                             {"num_query_groups", p.spec.query_groups()},
                             {"ffn_hidden_size", p.spec.ffn()},
                             {"vocab_size", p.spec.vocab_size},
                             {"num_experts", p.spec.num_experts},
                             {"default_seq_length", p.default_seq_length},
                             {"source", p.source}});
    j["gpus"] = nlohmann::json::array();
    for (const auto& d : sim::devices())
      j["gpus"].push_back({{"name", d.name}, {"memory_bytes", d.memory.value}, {"source", d.source}});
    out << j.dump(2) << "\n";
    return kExitOk;
  }
  out << "# model presets (parameter counts are exact, unpadded; learned position tables sized at default_seq)\n";
  // The name column fits the longest preset name (qwen1.5-moe-a2.7b) with a blank before the next column.
  std::size_t name_width = 14;
  for (const auto& p : model_presets()) name_width = std::max(name_width, p.name.size() + 1);
  const int nw = static_cast<int>(name_width);
  out << "#" << std::setw(nw - 1) << "name" << std::setw(19) << "parameters" << std::setw(7) << "layers" << std::setw(7)
      << "hidden" << std::setw(7) << "heads" << std::setw(5) << "kv" << std::setw(7) << "ffn" << std::setw(8) << "vocab"
      << std::setw(8) << "experts" << std::setw(12) << "default_seq"
      << "  source\n";
  for (const auto& p : model_presets()) {
    ModelSpec m = p.spec;
    if (m.position_embedding == PositionEmbedding::learned && m.max_position_embeddings == 0)
      m.max_position_embeddings = p.default_seq_length;
    out << std::setw(nw) << p.name << std::setw(19) << with_commas(total_parameters(m).value) << std::setw(7)
        << m.num_layers << std::setw(7) << m.hidden_size << std::setw(7) << m.num_attention_heads << std::setw(5)
        << m.query_groups() << std::setw(7) << m.ffn() << std::setw(8) << m.vocab_size << std::setw(8) << m.num_experts
        << std::setw(12) << p.default_seq_length << "  " << p.source << "\n";
  }
  out << "#\n# GPUs (--gpu NAME)\n";
  for (const auto& d : sim::devices())
    out << std::setw(14) << d.name << std::setw(14) << iec(d.memory) << "  " << d.source << "\n";
  return kExitOk;
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kUsage;
    return kExitUsage;
  }
  const std::string& cmd = args.front();
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (cmd == "estimate")
      return wants_deepspeed_estimator(rest) ? run_deepspeed_estimator(rest, out) : cmd_estimate(rest, out, err);
    if (cmd == "simulate") return cmd_simulate(rest, out, err);
    if (cmd == "models") return cmd_models(rest, out);
    if (cmd == "explain") return cmd_explain(rest, out, err);
    if (cmd == "plan") return run_plan(rest, out, err);
    if (cmd == "compare") return cmd_compare(rest, out, err);
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      out << kUsage;
      return kExitOk;
    }
    if (cmd == "--version") {
      out << "trainmem " << kVersion << "\n";
      return kExitOk;
    }
    err << "trainmem: unknown command '" << cmd << "'\n" << kUsage;
    return kExitUsage;
  } catch (const Error& e) {
    // ConfigError (a field and its value) and OverflowError (absurd sizes) are input errors.
    err << "trainmem: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    err << "trainmem: error: out of memory\n";
    return kExitRuntime;
  } catch (const std::exception& e) {
    err << "trainmem: internal error: " << e.what() << "\n";
    return kExitRuntime;
  }
}

}  // namespace trainmem::tools
