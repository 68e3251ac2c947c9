#include "tools/cli/explain_scenario.hpp"

#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "partition/error.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/accounting/recipe.hpp"
#include "tools/cli/cli.hpp"
#include "tools/cli/command_line.hpp"
#include "tools/cli/what_if.hpp"
#include "tools/inputs/ecosystem_inputs.hpp"
#include "tools/inputs/scenario_builder.hpp"
#include "tools/inputs/scenario_file.hpp"
#include "tools/report/explain_terms.hpp"
#include "tools/report/format.hpp"
#include "tools/report/report.hpp"

namespace trainmem::tools {
namespace {
using nlohmann::json;

Bytes model_states(const sim::MemoryBreakdown& b) {
  return b[sim::MemoryCategory::params] + b[sim::MemoryCategory::grads] + b[sim::MemoryCategory::master_params] +
         b[sim::MemoryCategory::optimizer_states];
}

std::string gb(Bytes b) { return fixed(static_cast<double>(b.value) / 1e9, 2); }

// One row of the rule of thumb: the whole model's states under a recipe, and spread evenly over N ranks.
struct Thumb {
  const sim::Recipe* recipe;
  unsigned bytes_per_parameter;
  Bytes whole;
  Bytes per_rank;  // bytes_per_parameter x ceil(Φ / N): ZeRO-3 over all N ranks, no TP/PP
};

std::vector<Thumb> rule_of_thumb(const sim::EstimateResult& r) {
  std::vector<Thumb> rows;
  const std::uint64_t n = static_cast<std::uint64_t>(r.world_size);
  for (const auto& rec : sim::recipes()) {
    const unsigned bpp = sim::bytes_per_parameter(rec, *r.resolved.optimizer);
    rows.push_back(
        {&rec, bpp, Bytes(r.num_parameters.value) * bpp, Bytes(detail::ceil_div(r.num_parameters.value, n)) * bpp});
  }
  return rows;
}

json breakdown_json(const sim::MemoryBreakdown& b) {
  json j;
  for (auto cat : sim::kMemoryCategories) j[std::string(sim::category_name(cat))] = b[cat].value;
  j["model_states"] = model_states(b).value;
  return j;
}

std::string device_verdict(const sim::EstimateResult& r, Bytes peak, std::optional<bool> fits) {
  if (!r.gpu_memory || !fits) return "no device given";
  const auto& sc = r.resolved.scenario;
  const std::string dev = (sc.gpu_name.empty() ? std::string("--gpu-memory") : sc.gpu_name) + " " + iec(*r.gpu_memory);
  return *fits ? "FITS on " + dev + ", " + iec(*r.gpu_memory - peak) + " free"
               : "DOES NOT FIT on " + dev + ", short by " + iec(peak - *r.gpu_memory);
}

void write_text(std::ostream& out, const std::string& path, const std::string& question, const BuiltScenario& built,
                const sim::EstimateResult& r, const std::vector<WhatIf>& rows) {
  out << "# trainmem " << kVersion << " explain " << path << "\n\n";
  out << "Question\n========\n" << (question.empty() ? "(the scenario has no `question:` key)" : question) << "\n\n";

  out << "The estimate\n============\n";
  write_estimate_table(out, r, built.model_source);

  const auto thumbs = rule_of_thumb(r);
  out << "\nRule of thumb: model states of the whole model, before any sharding\n"
      << "=====================================================================\n"
      << "  Φ = " << with_commas(r.num_parameters.value) << " parameters; optimizer " << r.resolved.optimizer->name
      << "; N = " << r.world_size << " ranks.\n"
      << "  Bytes per parameter from the recipe tables (docs/model-states.md section 3); 'per rank' spreads them\n"
      << "  evenly over all N ranks (ZeRO-3 over N, no TP/PP): bytes x ceil(Φ / N).\n";
  out << "  " << std::left << std::setw(10) << "recipe" << std::setw(12) << "(alias)" << std::right << std::setw(7)
      << "B/Φ" << std::setw(24) << "whole model (B)" << std::setw(12) << "(GB=1e9)" << std::setw(12) << "(GiB)"
      << std::setw(14) << "per rank"
      << "\n";
  for (const auto& t : thumbs) {
    const bool mine = t.recipe == r.resolved.recipe;
    out << (mine ? "* " : "  ") << std::left << std::setw(10) << t.recipe->name << std::setw(12)
        << (t.recipe->alias.empty() ? "" : "(" + std::string(t.recipe->alias) + ")") << std::right << std::setw(5)
        << t.bytes_per_parameter << "Φ" << std::setw(24) << with_commas(t.whole.value) << std::setw(12) << gb(t.whole)
        << std::setw(12) << gib(t.whole) << std::setw(14) << iec(t.per_rank) << "\n";
  }
  out << "  * = this scenario's recipe. Activations come on top and do not shard with ZeRO (next sections).\n\n";

  out << "Terms (the fullest rank: every formula with its numbers and source)\n"
      << "===================================================================\n";
  explain_recipes(out, r);
  explain_zero(out);
  if (r.layer_activations) explain_layer_activations(out, r);
  explain_class(out, r, r.max_peak_class);

  const auto& worst = r.classes[r.max_peak_class];
  out << "Answer\n======\n"
      << "  The fullest rank is class " << r.max_peak_class << " (ranks " << rank_ranges(worst.ranks) << ", pp_rank "
      << rank_ranges(worst.pp_ranks) << "):\n";
  auto line = [&out](const char* name, Bytes b, const std::string& note) {
    out << "    " << std::left << std::setw(14) << name << std::right << std::setw(20) << with_commas(b.value) << " B"
        << std::setw(12) << iec(b) << "  " << note << "\n";
  };
  line("model states", model_states(worst.bytes), "params + grads + master + optimizer states");
  line("activations", worst.bytes[sim::MemoryCategory::activations],
       r.layer_activations ? "saved for backward x in-flight microbatches" : "none (bare parameter count)");
  line("buffers", worst.bytes[sim::MemoryCategory::buffers], "DDP / DeepSpeed buckets, ZeRO-3 gathers, p2p sends");
  line("temporaries", worst.bytes[sim::MemoryCategory::temporaries],
       "recompute / CP / loss / activation-gradient transients");
  line("runtime", worst.bytes[sim::MemoryCategory::runtime],
       "CUDA context, NCCL, workspaces, allocator (docs/runtime-memory.md)");
  if (worst.kv_cache.value != 0) line("kv_cache", worst.kv_cache, "inference KV cache");
  line("peak", worst.peak, device_verdict(r, r.max_peak, r.fits));
  out << "  activations, buffers and temporaries are taken at the stage's peak point (`trainmem simulate` replays "
         "it).\n\n";

  out << "What if (each row is a new estimate with one knob changed; the fullest rank of each; * = the scenario)\n"
      << "=======================================================================================================\n";
  out << "  " << std::left << std::setw(22) << "knob" << std::setw(11) << "value" << std::right << std::setw(13)
      << "model states" << std::setw(10) << "activ" << std::setw(10) << "temps" << std::setw(10) << "runtime"
      << std::setw(10) << "peak" << std::setw(11) << "peak" << std::setw(11) << "vs scen."
      << "  fits\n";
  out << "  " << std::left << std::setw(33) << "" << std::right << std::setw(13) << "(GiB)" << std::setw(10) << "(GiB)"
      << std::setw(10) << "(GiB)" << std::setw(10) << "(GiB)" << std::setw(10) << "(GiB)" << std::setw(11) << "(GB=1e9)"
      << std::setw(11) << "(GiB)"
      << "\n";
  for (const auto& w : rows) {
    out << (w.is_scenario ? "* " : "  ") << std::left << std::setw(22) << w.knob << std::setw(11) << w.value
        << std::right;
    if (w.skipped) {
      out << "  skipped: " << *w.skipped << "\n";
      continue;
    }
    const double delta =
        (static_cast<double>(w.peak.value) - static_cast<double>(worst.peak.value)) / static_cast<double>(kGiB);
    out << std::setw(13) << gib(model_states(w.bytes)) << std::setw(10)
        << gib(w.bytes[sim::MemoryCategory::activations]) << std::setw(10)
        << gib(w.bytes[sim::MemoryCategory::temporaries]) << std::setw(10) << gib(w.bytes[sim::MemoryCategory::runtime])
        << std::setw(10) << gib(w.peak) << std::setw(11) << gb(w.peak) << std::setw(11)
        << ((delta >= 0 ? "+" : "") + fixed(delta, 2)) << "  " << (w.fits ? (*w.fits ? "yes" : "NO") : "-") << "\n";
  }
  const auto& p = r.resolved.scenario.parallel;
  if (p.dp * p.cp == 1 && p.edp() == 1)
    out << "# zero_stage rows: dp * cp = 1, so ZeRO has no data-parallel ranks to shard over and the rows are equal.\n";
  out << "# Verdict: peak " << iec(r.max_peak) << " on the fullest rank; " << device_verdict(r, r.max_peak, r.fits)
      << "\n";
}

json explain_json(const std::string& path, const std::string& question, const BuiltScenario& built,
                  const sim::EstimateResult& r, const std::vector<WhatIf>& rows) {
  json j;
  j["schema_version"] = 1;
  j["tool"] = "trainmem";
  j["version"] = kVersion;
  j["command"] = "explain";
  j["scenario_file"] = path;
  j["question"] = question.empty() ? json(nullptr) : json(question);
  j["estimate"] = estimate_json(r, built.model_source);
  json thumbs = json::array();
  for (const auto& t : rule_of_thumb(r))
    thumbs.push_back({{"recipe", t.recipe->name},
                      {"alias", t.recipe->alias},
                      {"bytes_per_parameter", t.bytes_per_parameter},
                      {"whole_model_bytes", t.whole.value},
                      {"per_rank_bytes_fully_sharded", t.per_rank.value}});
  j["rule_of_thumb"] = {{"num_parameters", r.num_parameters.value},
                        {"optimizer", r.resolved.optimizer->name},
                        {"world_size", r.world_size},
                        {"recipes", thumbs}};
  const auto& worst = r.classes[r.max_peak_class];
  j["answer"] = {{"class", r.max_peak_class},
                 {"ranks", worst.ranks},
                 {"pp_ranks", worst.pp_ranks},
                 {"bytes", breakdown_json(worst.bytes)},
                 {"peak_bytes", worst.peak.value},
                 {"gpu_memory_bytes", r.gpu_memory ? json(r.gpu_memory->value) : json(nullptr)},
                 {"fits", r.fits ? json(*r.fits) : json(nullptr)}};
  std::ostringstream derivation;
  explain_recipes(derivation, r);
  explain_zero(derivation);
  if (r.layer_activations) explain_layer_activations(derivation, r);
  explain_class(derivation, r, r.max_peak_class);
  j["derivation"] = derivation.str();
  json what = json::array();
  for (const auto& w : rows) {
    json row = {{"knob", w.knob}, {"value", w.value}, {"is_scenario", w.is_scenario}};
    if (w.skipped) {
      row["skipped"] = *w.skipped;
      row["bytes"] = nullptr;
      row["peak_bytes"] = nullptr;
      row["fits"] = nullptr;
    } else {
      row["skipped"] = nullptr;
      row["bytes"] = breakdown_json(w.bytes);
      row["peak_bytes"] = w.peak.value;
      row["fits"] = w.fits ? json(*w.fits) : json(nullptr);
    }
    what.push_back(row);
  }
  j["what_if"] = what;
  return j;
}
}  // namespace

int cmd_explain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const CommandLine cl = parse_command_line(args);
  if (cl.help) {
    out << "usage: trainmem explain SCENARIO.yaml [options]\n\n"
        << "The interview-style answer for a scenario: its question (the `question:` key), the rule of thumb\n"
        << "(parameters x 16/18/20 bytes), every term of the fullest rank with its formula, numbers and source,\n"
        << "the total and whether it fits, and what-ifs (each ZeRO stage, each recipe, each recompute granularity,\n"
        << "each row a new estimate). Flags override the scenario file's keys. docs/scenarios.md lists the library.\n\n"
        << options_help();
    return kExitOk;
  }
  if (!cl.scenario_path)
    throw ConfigError("scenario", "(none)", "`trainmem explain` needs a scenario file (see scenarios/*.yaml)");
  const Settings settings = merge(load_scenario_file(*cl.scenario_path), cl.settings);
  const auto q = settings.find("question");
  const std::string question = q == settings.end() ? "" : q->second.text;
  std::ostringstream notices;  // ds_config / Megatron-args notices, printed once the estimate succeeded
  const BuiltScenario built = build_scenario_with_inputs(settings, notices);
  const sim::EstimateResult result = sim::estimate(built.scenario);
  err << notices.str();
  for (const auto& w : result.resolved.warnings) err << "trainmem: warning: " << w << "\n";
  const std::vector<WhatIf> rows = what_ifs(built.scenario, result);
  if (built.output.format == OutputFormat::json)
    out << explain_json(*cl.scenario_path, question, built, result, rows).dump(2) << "\n";
  else
    write_text(out, *cl.scenario_path, question, built, result, rows);
  return result.fits.value_or(true) ? kExitOk : kExitDoesNotFit;
}

}  // namespace trainmem::tools
