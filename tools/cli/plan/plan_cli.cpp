// `trainmem plan`, the front door (plan_cli.hpp): its --help, the plan options and settings made into a
// search request (plan_request.cpp), --why-not (plan_why_not.cpp), or the search split over the mpirun
// ranks (plan_ranks.cpp, plan_wire.cpp) with its finalists replayed, then the table or JSON report
// (tools/report/plan/plan_report.hpp).
#include "tools/cli/plan/plan_cli.hpp"

#include <sstream>

#include "partition/error.hpp"
#include "sim/accounting/recipe.hpp"
#include "sim/planner/plan_verify.hpp"
#include "sim/planner/planner.hpp"
#include "tools/cli/cli.hpp"
#include "tools/cli/command_line.hpp"
#include "tools/cli/output_file.hpp"
#include "tools/cli/plan/plan_progress.hpp"
#include "tools/cli/plan/plan_ranks.hpp"
#include "tools/cli/plan/plan_reproduce.hpp"
#include "tools/cli/plan/plan_request.hpp"
#include "tools/cli/plan/plan_why_not.hpp"
#include "tools/cli/plan/plan_wire.hpp"
#include "tools/inputs/ecosystem_inputs.hpp"
#include "tools/inputs/scenario_file.hpp"
#include "tools/report/plan/plan_report.hpp"

namespace trainmem::tools {
namespace {

constexpr const char* kPlanHelp =
    "usage: trainmem plan [scenario.yaml] [options] [plan options]\n"
    "\n"
    "Searches the layouts (tp, pp, vpp, cp, dp, ep, zero_stage, sequence_parallel, recompute, micro_batch_size)\n"
    "whose fullest rank fits the device with a safety margin, and ranks them: fewest GPUs first, then the cost\n"
    "proxy (relative step time: (1 + recompute) x (1 + bubble) + communication; docs/planner.md).\n"
    "Needs a layered model, --global-batch-size and --gpu or --gpu-memory. A layout flag fixes that knob\n"
    "(--tp 8 searches only tp 8); --world-size is the same as --num-gpus. Every peak equals `trainmem estimate`.\n"
    "Under `mpirun -np N trainmem plan ...` the search is split over the ranks; rank 0 prints the same answer.\n"
    "\n"
    "Plan options:\n"
    "  --min-gpus              the smallest cluster that fits: its size and best layouts on it\n"
    "  --num-gpus N            the best layouts on exactly N GPUs\n"
    "  --max-gpus N            largest world size searched (default 4096)\n"
    "  --gpus-per-node N       GPUs per node (default 8); tp divides it; world sizes are whole nodes\n"
    "                          or divide one node\n"
    "  --safety-margin M       device memory kept free: 10% (default), 0.15 or 15%\n"
    "  --top N                 layouts printed (default 10)\n"
    "  --max-micro-batch-size N  micro batch sizes searched: powers of two up to N (default 16)\n"
    "  --max-cp N              context parallel sizes searched: powers of two up to N (default 64)\n"
    "  --uneven-pp             also search uneven pipeline splits (any pp; first and last stage no fuller\n"
    "                          than a middle one; --decoder-first/last-pipeline-num-layers fix one)\n"
    "  --uneven-max-delta N    uneven splits with edge stages up to N layers lighter than a middle one\n"
    "                          (default 4; implies --uneven-pp; num_layers = the whole range)\n"
    "  --max-ulysses-sp N      also search DeepSpeed Ulysses degrees: powers of two up to N dividing dp and,\n"
    "                          with tp, the heads and kv heads (default 1: off; --ulysses-sp fixes it)\n"
    "  --hsdp-search           also search HSDP shard groups: every divisor S < dp of dp, ZeRO >= 1, cp, ep and\n"
    "                          Ulysses 1 (--shard-group-size fixes it)\n"
    "  --why-not               for the layout given by the usual flags: does it fit, which rank overflows,\n"
    "                          by how much, in which category, and the cheapest single-knob change that fits\n"
    "  --no-simulate           rank by estimate() alone: do not replay the finalists (and --why-not's layout\n"
    "                          and fixes) with the simulator, which adds ZeRO-3 gathers and DeepSpeed buckets\n"
    "  --offload-search T      also search offload up to tier T: none (default), cpu (optimizer states at\n"
    "                          ZeRO >= 1, parameters at ZeRO-3, full-recompute checkpoints, to host RAM) or\n"
    "                          nvme (also optimizer states and parameters to NVMe, ZeRO-3); --offload-optimizer,\n"
    "                          --offload-param, --offload-activation-checkpoints fix their knob instead\n"
    "  --host-memory-per-node S  host RAM a node offers offload (default 2TiB, a DGX H100); a layout whose\n"
    "                          per-node host bytes exceed it does not fit\n"
    "  --nvme-per-node S       NVMe a node offers offload (default 30.72TB, a DGX H100's 8 x 3.84 TB)\n"
    "  --html FILE             also write a self-contained HTML page: the searched layouts as a chart of GPUs\n"
    "                          against peak, the chosen one highlighted, each with its reproducing command\n"
    "\n";

int run_plan_impl(const std::vector<std::string>& input, std::ostream& out, std::ostream& notices, std::ostream& err) {
  std::vector<std::string> args = input;
  const PlanFlags f = take_plan_flags(args);
  const CommandLine cl = parse_command_line(args);
  if (cl.help) {
    out << kPlanHelp << options_help();
    return kExitOk;
  }
  Settings settings;
  if (cl.scenario_path) settings = load_scenario_file(*cl.scenario_path);
  settings = merge(std::move(settings), cl.settings);
  const BuiltScenario built = build_scenario_with_inputs(settings, notices);
  // FSDP's mixed-precision policy (recipe fsdp-mp) exists only in FSDP layouts; the search also prices the others.
  if (const sim::Recipe* rc = sim::find_recipe(built.scenario.training.recipe); rc != nullptr && rc->compute_dtype)
    throw ConfigError("recipe", built.scenario.training.recipe,
                      "(FSDP mixed precision) is not searched by plan; use `trainmem estimate` for the FSDP layout, or "
                      "plan with --recipe amp (the same 16 bytes per parameter, fp32 all-gathers)");
  if (f.why_not) {
    if (f.html) throw ConfigError("html", *f.html, "charts a search; --why-not analyses one layout (drop one of them)");
    if (built.output.format == OutputFormat::json)
      throw ConfigError("format", "json",
                        "--why-not prints a table only (use `trainmem estimate --format json` for the numbers)");
    // One analysis, no search to split: under mpirun only the first rank prints it.
    if (launcher_rank() != 0) {
      std::ostringstream discard;
      return run_why_not(built, cl, f, discard);
    }
    return run_why_not(built, cl, f, out);
  }

  const sim::PlanRequest rq = plan_request(settings, built, f);
  // --padded-vocab-size: every tp the search tries (the divisors of a node) must split the rows evenly.
  if (const auto pv = settings.find("padded_vocab_size"); pv != settings.end() && !rq.fixed.tp &&
                                                          built.scenario.model &&
                                                          built.scenario.model->vocab_size % rq.gpus_per_node != 0)
    throw ConfigError("padded_vocab_size", pv->second.text,
                      "is not divisible by gpus_per_node " + std::to_string(rq.gpus_per_node) +
                          ": plan tries every tp that divides a node, and the vocab-parallel embedding needs each to "
                          "divide the rows; give --tp to fix one");
  const sim::Planner planner(rq);
  const bool json_out = built.output.format == OutputFormat::json;
  const EstimateArgs reproduce = estimate_args_for(cl, rq.gpus_per_node);

  sim::PlanSearchOptions opt;
  opt.top = f.top;
  opt.min_gpus = f.min_gpus;
  if (f.simulate) {
    // The replay needs the analytic ranking past the answer (a finalist may overflow when replayed), so
    // the split search keeps a deeper ranking over every world size it visits; verify_finalists asks for
    // more (one process) in the rare case that is not enough.
    opt.top = 2 * f.top + 8;
    opt.min_gpus = false;
    // Rank what may fit when replayed (the lower bound of the replayed peak fits), so that a layout over the
    // budget by estimate() but within it when replayed is found (docs/planner.md section 5).
    opt.fit_by_replay = true;
  }
  return with_plan_ranks([&](const PlanRanks& ranks) {
    sim::PlanSearchOptions mine = opt;
    mine.slice = ranks.rank;
    mine.slices = ranks.size;
    // A long search reports on stderr (the first rank's slice stands for the whole: the slices are interleaved).
    PlanProgressPrinter progress(err);
    if (ranks.rank == 0) mine.progress = progress.callback();
    sim::PlanResult result = planner.search(mine, ranks.sum);
    bool any_fits = ranks.sum(result.counts.fitting_bases) > 0;
    if (ranks.size > 1) {
      const std::vector<std::string> texts = ranks.gather(result_wire(result));
      if (ranks.rank != 0) return any_fits ? kExitOk : kExitDoesNotFit;
      std::vector<sim::PlanResult> parts;
      parts.reserve(texts.size());
      for (const auto& text : texts) parts.push_back(result_from_wire(text));
      result = sim::merge_plan_results(parts, opt);
    }
    // Rows: the answer, best first, with the replayed peak when the finalists were simulated.
    std::vector<PlanRow> rows;
    std::optional<sim::PlanVerification> verified;
    if (f.simulate) {
      verified = sim::verify_finalists(planner, result, opt.top, {f.top, f.min_gpus}, [&](std::size_t depth) {
        sim::PlanSearchOptions deeper;
        deeper.top = depth;
        deeper.fit_by_replay = true;
        return planner.search(deeper);
      });
      for (const auto& v : verified->layouts) rows.push_back({v.entry, v.replayed});
      any_fits = !rows.empty();
    } else {
      for (const auto& e : result.layouts) rows.push_back({e, std::nullopt});
    }
    const PlanReport report{.planner = planner,
                            .request = rq,
                            .result = result,
                            .rows = rows,
                            .verified = verified,
                            .model_source = built.model_source,
                            .min_gpus = f.min_gpus,
                            .simulate = f.simulate,
                            .fits = any_fits,
                            .reproduce = reproduce};
    if (f.html) write_output_file("html", *f.html, [&](std::ostream& o) { o << plan_html(report); });
    if (json_out)
      out << plan_json(report).dump(2) << "\n";
    else
      write_plan_table(out, report);
    return any_fits ? kExitOk : kExitDoesNotFit;
  });
}

}  // namespace

int run_plan(const std::vector<std::string>& input, std::ostream& out, std::ostream& err) {
  // ds_config / Megatron-args notices: printed once the plan succeeded (an input error stays one line), by
  // the first rank only under mpirun.
  std::ostringstream notices;
  const int rc = run_plan_impl(input, out, notices, err);
  if (launcher_rank() == 0) err << notices.str();
  return rc;
}

}  // namespace trainmem::tools
