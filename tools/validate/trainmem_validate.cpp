// trainmem-validate: under `mpiexec -n N`, every rank allocates its predicted model states for real,
// runs one ZeRO/DP step's collectives over the real groups, checks the updated parameters against an
// unsharded reference, and rank 0 prints predicted vs measured per rank and category (nccl-tests
// layout). Exit 0 pass, 1 mismatch, 2 usage/input error or refusal, 3 MPI/CUDA runtime error.
// Setup errors are agreed on by all ranks (no hang); any later failure ends the job with MPI_Abort.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <iostream>
#include <new>
#include <sstream>
#include <thread>

#include "comm/error.hpp"
#include "comm/host_memory.hpp"
#include "comm/parallel_groups.hpp"
#include "comm/session.hpp"
#include "comm/validation_step.hpp"
#include "comm/watchdog.hpp"
#include "partition/error.hpp"
#include "partition/rank_grid.hpp"
#include "sim/accounting/estimate.hpp"
#include "tools/cli/cli.hpp"
#include "tools/cli/command_line.hpp"
#include "tools/inputs/ecosystem_inputs.hpp"
#include "tools/inputs/scenario_builder.hpp"
#include "tools/inputs/scenario_file.hpp"
#include "tools/report/format.hpp"
#include "tools/report/report.hpp"
#include "tools/validate/validate_agreement.hpp"
#include "tools/validate/validate_compare.hpp"
#include "tools/validate/validate_options.hpp"
#include "tools/validate/validate_plan.hpp"
#include "tools/validate/validate_signals.hpp"

namespace trainmem::tools {
namespace {

constexpr const char* kUsage =
    "usage: mpiexec -n N trainmem-validate [scenario.yaml] [options]\n\n"
    "Allocates each rank's predicted model states for real, runs one ZeRO/DP step (reduce-scatter or\n"
    "all-reduce of gradients, Adam on the shard, all-gather of parameters; ZeRO-3 per-layer gathers)\n"
    "over the real MPI groups, checks the update against an unsharded reference and compares measured\n"
    "with predicted bytes per rank and category. Exit 0 pass, 1 mismatch, 2 input error, 3 runtime error.\n\n";

struct Setup {
  ValidateOptions options;
  sim::EstimateResult estimate;
  const sim::RankClass* mine = nullptr;
  std::vector<comm::BufferRequest> requests;
  std::string model_source;
  std::string fingerprint;  // the resolved scenario, compared across ranks
  bool help = false;
};

bool injected(const ValidateOptions& o, FaultKind kind, int rank) {
  return std::any_of(o.faults.begin(), o.faults.end(),
                     [&](const InjectedFault& f) { return f.kind == kind && f.rank == rank; });
}

// --inject-fault sigterm-*: this rank sends itself SIGTERM (the handler of validate_signals.hpp reports it).
void raise_injected_sigterm(const comm::Session& session, FaultKind kind) {
  std::cerr << "trainmem-validate: test hook --inject-fault " << fault_kind_name(kind) << ":" << session.rank()
            << ": rank " << session.rank() << " raises SIGTERM" << std::endl;
  ::raise(SIGTERM);
}

// --inject-fault hang: this rank stops making progress for good (no exception, no signal, no exit), as a
// deadlocked rank or a wedged GPU would; only the watchdog (--timeout) ends the job.
[[noreturn]] void hang_forever(const comm::Session& session) {
  std::cerr << "trainmem-validate: test hook --inject-fault hang:" << session.rank() << ": rank " << session.rank()
            << " stops making progress (sleeps forever)" << std::endl;
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

// The watchdog's timeout: read before setup so that a hang in setup is covered too; a bad --timeout
// value is reported by the setup agreement, and the default applies until then.
std::chrono::milliseconds watchdog_timeout(const std::vector<std::string>& args) {
  std::int64_t seconds = kDefaultTimeoutSeconds;
  try {
    seconds = split_validate_args(args).validate.timeout_seconds;
  } catch (const std::exception&) {
    // reported by prepare()
  }
  return std::chrono::milliseconds(seconds * 1000);
}

const sim::RankClass& class_of(const sim::EstimateResult& r, std::int64_t rank) {
  for (const auto& c : r.classes)
    if (std::find(c.ranks.begin(), c.ranks.end(), rank) != c.ranks.end()) return c;
  throw Error("rank " + std::to_string(rank) + " is in no rank class of the estimate");
}

// Everything each rank can do alone: parse, predict, plan. Identical input gives identical errors.
Setup prepare(const comm::Session& session, const std::vector<std::string>& args) {
  Setup s;
  SplitArgs split = split_validate_args(args);
  s.options = split.validate;
  const CommandLine cl = parse_command_line(split.scenario_args);
  if (s.options.help || cl.help) {
    s.help = true;
    return s;
  }
  Settings settings;
  if (cl.scenario_path) settings = load_scenario_file(*cl.scenario_path);
  settings = merge(std::move(settings), cl.settings);
  if (settings.count("data_parallel_size") == 0 && settings.count("world_size") == 0)
    settings["world_size"] = SettingValue{std::to_string(session.size()), "mpiexec -n"};
  std::ostringstream notices;  // ds_config / Megatron arguments: one notice, from rank 0
  const BuiltScenario built = build_scenario_with_inputs(settings, notices);
  s.model_source = built.model_source;
  s.estimate = sim::estimate(built.scenario);
  if (session.rank() == 0) std::cerr << notices.str();
  if (s.estimate.world_size != session.size())
    throw ConfigError("world_size", std::to_string(s.estimate.world_size),
                      "the scenario needs " + std::to_string(s.estimate.world_size) + " ranks but the job has " +
                          std::to_string(session.size()) + " (run mpiexec -n " + std::to_string(s.estimate.world_size) +
                          ")");
  const std::string opt(s.estimate.resolved.optimizer->name);
  if (opt != "adam" && opt != "adamw")
    throw ConfigError("optimizer", opt, "trainmem-validate runs an Adam step; use adam or adamw");
  for (const auto& p : s.options.perturbations)
    if (p.rank && *p.rank >= session.size())
      throw ConfigError("--perturb rank", std::to_string(*p.rank),
                        "no such rank (the job has " + std::to_string(session.size()) + ")");
  for (const auto& f : s.options.faults)
    if (f.rank >= session.size())
      throw ConfigError("--inject-fault rank", std::to_string(f.rank),
                        "no such rank (the job has " + std::to_string(session.size()) + ")");
  s.fingerprint =
      scenario_fingerprint(estimate_json(s.estimate, s.model_source)["config"], s.options.backend, s.options.seed);
  s.mine = &class_of(s.estimate, session.rank());
  s.requests = buffer_requests(s.mine->model_states);
  if (s.options.backend == "cuda") {
    // Decided before any collective, so every rank of a GPU-less job exits cleanly with the reason.
    if (!comm::cuda_backend_compiled())
      throw comm::BackendUnavailable(
          "--backend cuda: this build has no cuda backend (CUDA toolkit or NCCL not found "
          "at configure time); use --backend host");
    std::string why;
    const int devices = comm::cuda_device_count(why);
    if (devices == 0)
      throw comm::BackendUnavailable("--backend cuda: no CUDA device visible (" + why +
                                     "); the cuda backend needs one GPU per rank, use --backend host on this machine");
    if (session.local_size() > devices)
      throw comm::BackendUnavailable("--backend cuda: " + std::to_string(session.local_size()) + " ranks on host " +
                                     session.host() + " but " + why +
                                     ": NCCL needs one GPU per rank (two ranks on one GPU fail in ncclCommInitRank "
                                     "with 'Duplicate GPU detected'); start at most " +
                                     std::to_string(devices) + " ranks per host");
  }
  return s;
}

int exit_code_of(const std::exception& e) {
  if (dynamic_cast<const comm::CommError*>(&e) != nullptr) return kExitRuntime;
  if (dynamic_cast<const Error*>(&e) != nullptr) return kExitUsage;  // ConfigError, OverflowError
  return kExitRuntime;
}

std::map<std::string, Bytes> predicted_for(const Setup& s, std::int64_t rank) {
  auto predicted = predicted_by_category(class_of(s.estimate, rank).model_states);
  for (const auto& p : s.options.perturbations) {
    if (p.rank && *p.rank != rank) continue;
    Bytes& b = predicted[p.category];
    b = p.bytes >= 0 ? b + Bytes(static_cast<std::uint64_t>(p.bytes))
                     : b - std::min(b, Bytes(static_cast<std::uint64_t>(-p.bytes)));
  }
  return predicted;
}

int validate(const comm::Session& session, const std::vector<std::string>& args) {
  // No hang, ever: a rank without progress for --timeout seconds ends the job (comm/watchdog.hpp).
  const comm::Watchdog watchdog(session, watchdog_timeout(args), kExitRuntime);
  // --- setup, then agreement: every rank learns whether any rank failed, so none waits in a collective.
  comm::watchdog_phase("setup: parse and predict");
  Setup setup;
  int local_code = 0;
  std::string local_error;
  try {
    setup = prepare(session, args);
  } catch (const std::exception& e) {
    local_code = exit_code_of(e);
    local_error = e.what();
  }
  if (local_code == 0 && injected(setup.options, FaultKind::sigterm_at_setup, session.rank()))
    raise_injected_sigterm(session, FaultKind::sigterm_at_setup);
  comm::watchdog_phase("setup: agreement");
  const auto worst = static_cast<int>(session.allreduce_max(static_cast<std::uint64_t>(local_code)));
  if (worst != 0) {
    const auto first = static_cast<int>(
        static_cast<std::uint64_t>(session.size()) -
        session.allreduce_max(local_code != 0 ? static_cast<std::uint64_t>(session.size() - session.rank()) : 0));
    if (session.rank() == first)
      std::cerr << "trainmem-validate: error on rank " << session.rank() << " (host " << session.host()
                << "): " << local_error << "\n";
    return worst;
  }
  if (setup.help) {
    if (session.rank() == 0)
      std::cout << kUsage << validate_options_help() << "\nscenario options:\n" << options_help();
    return kExitOk;
  }

  // --- every rank must have resolved the same scenario (a rank given other flags or another file
  // would allocate and reduce different buffers): rank 0 compares the fingerprints and names the odd ones.
  comm::watchdog_phase("setup: scenario fingerprint check");
  {
    const std::vector<std::string> prints = session.gather_to_root(setup.fingerprint);
    int code = kExitOk;
    if (session.rank() == 0) {
      if (const auto lines = describe_disagreement(prints)) {
        for (const auto& line : *lines) std::cerr << "trainmem-validate: error: " << line << "\n";
        std::cerr << "trainmem-validate: every rank must be given the same scenario and options\n";
        code = kExitUsage;
      }
    }
    if (session.broadcast_from_root(code) != kExitOk) return kExitUsage;
  }

  const sim::EstimateResult& est = setup.estimate;
  const sim::RankClass& mine = *setup.mine;
  const auto& sc = est.resolved.scenario;
  const std::uint64_t dp = static_cast<std::uint64_t>(sc.parallel.dp);

  comm::watchdog_phase("setup: memory refusal check");
  // --- refuse up front when this node cannot hold its ranks' model states (plus step temporaries).
  std::uint64_t need = mine.model_states.breakdown.total().value;
  const std::uint64_t layers = static_cast<std::uint64_t>(std::max<std::int64_t>(1, mine.num_layers));
  need += mine.shard.dense.value / layers * 4 + 64 * kMiB;  // largest bucket/gathered layer, staging, MPI scratch
  const std::uint64_t node_need = session.node_sum(need);
  const Bytes available = setup.options.assume_available ? *setup.options.assume_available : comm::mem_available();
  const bool refuse_here = node_need > available.value;
  if (session.allreduce_max(refuse_here ? 1 : 0) != 0) {
    if (refuse_here && session.local_rank() == 0)
      std::cerr << "trainmem-validate: refused: the " << session.local_size() << " ranks on host " << session.host()
                << " need " << iec(Bytes(node_need)) << " (" << node_need << " B: predicted model states + step "
                << "temporaries) but only " << iec(available) << " (" << available.value
                << " B) is available (MemAvailable" << (setup.options.assume_available ? ", --assume-available" : "")
                << "); use a smaller model or more hosts\n";
    return kExitUsage;
  }

  // --- from here on a failure on one rank ends the whole job (MPI_Abort), naming that rank.
  try {
    comm::watchdog_phase("communicator init: MPI_Comm_split per group");
    const comm::ProcStatus before_groups = comm::read_proc_status();
    const RankGrid grid(sc.parallel);
    const comm::ParallelGroups groups(session, grid);
    const comm::ProcStatus after_groups = comm::read_proc_status();

    comm::StepSpec spec;
    spec.backend = setup.options.backend == "cuda" ? comm::BackendKind::cuda : comm::BackendKind::host;
    spec.elements = mine.shard.dense;
    spec.zero_stage = sc.parallel.zero_stage;
    spec.gather_units = std::max<std::int64_t>(1, mine.num_layers);
    spec.seed = setup.options.seed;
    if (std::string_view(est.resolved.optimizer->name) == "adamw") spec.adam.weight_decay = 0.01F;
    if (setup.options.fail_rank) spec.fail_rank = static_cast<int>(*setup.options.fail_rank);
    if (injected(setup.options, FaultKind::alloc_fail, session.rank())) spec.alloc_fail_rank = session.rank();
    const bool throw_mid = injected(setup.options, FaultKind::throw_mid_collective, session.rank());
    const bool sigterm_mid = injected(setup.options, FaultKind::sigterm_mid_collective, session.rank());
    const bool hang = injected(setup.options, FaultKind::hang, session.rank());
    if (throw_mid || sigterm_mid || hang) {
      spec.mid_collective_hook = [&session, throw_mid, hang] {
        if (hang) hang_forever(session);
        if (!throw_mid) raise_injected_sigterm(session, FaultKind::sigterm_mid_collective);
        throw comm::CommError("test-only failure injected by --inject-fault throw-mid-collective:" +
                              std::to_string(session.rank()) + " half-way through the gradient reduction, on rank " +
                              std::to_string(session.rank()) + " (host " + session.host() + ")");
      };
    }
    const comm::StepResult r = comm::run_validation_step(session, groups, spec, setup.requests);

    RankMeasurement m;
    m.rank = session.rank();
    m.host = session.host();
    for (const auto& b : r.buffers)
      m.buffers.push_back(
          MeasuredCategoryBuffer{b.label, b.category, b.bytes.value, b.reserved.value, b.elements.value});
    const auto delta = [](Bytes a, Bytes b) { return a.value > b.value ? a.value - b.value : 0; };
    m.runtime_init = delta(session.after_init().rss_anon, session.before_init().rss_anon);
    m.rss_after_init = session.after_init().rss_anon.value;
    m.comm_init = delta(after_groups.rss_anon, before_groups.rss_anon);
    m.model_states_rss = r.host_model_states_delta.value;
    m.collective_peak = r.host_collective_peak.value;
    m.temporaries_peak = r.own_temporaries_peak.value;
    m.staging = r.staging_bytes.value;
    m.device_context = r.device_context.value;
    m.device_comm_init = r.device_comm_init.value;
    m.device_model_states = r.device_model_states.value;
    m.device_collective_peak = r.device_collective_peak.value;
    m.device = r.device_name;
    m.checked = r.checked_elements;
    m.wrong = r.wrong_elements;
    m.max_abs_error = r.max_abs_error;
    m.seconds_fill = r.seconds_fill;
    m.seconds_collectives = r.seconds_collectives;
    m.seconds_check = r.seconds_check;
    comm::watchdog_phase("report: measurements to rank 0");
    const std::uint64_t wrong_total = session.allreduce_sum(m.wrong);

    const std::vector<std::string> all = session.gather_to_root(serialize(m));
    int code = kExitOk;
    if (session.rank() == 0) {
      std::vector<RankMeasurement> ranks;
      std::vector<CompareRow> rows;
      for (const auto& text : all) {
        ranks.push_back(deserialize(text));
        const auto rank_rows = compare_rank(predicted_for(setup, ranks.back().rank), ranks.back());
        rows.insert(rows.end(), rank_rows.begin(), rank_rows.end());
      }
      TableContext ctx;
      std::ostringstream h1, h2, h3, h4;
      h1 << "trainmem-validate: backend " << setup.options.backend << ", " << session.size() << " ranks, zero_stage "
         << sc.parallel.zero_stage << ", recipe " << est.resolved.recipe->name << ", optimizer "
         << est.resolved.optimizer->name << ", seed " << spec.seed;
      h2 << "model: " << setup.model_source << ", " << with_commas(est.num_parameters.value) << " parameters; tp "
         << sc.parallel.tp << " pp " << sc.parallel.pp << " cp " << sc.parallel.cp << " dp " << dp;
      h3 << "rank 0: " << with_commas(mine.shard.dense.value) << " parameters before ZeRO, "
         << with_commas((mine.shard.dense.value + dp - 1) / dp) << " per ZeRO shard, " << spec.gather_units
         << " layer buckets/gathers";
      h4 << "step: seeded grads k/64 (|k|<=7, exact sums), Adam lr 1e-3 step 1; parameters checked against an "
            "unsharded reference on every rank, tolerance 1e-6 relative; wrong elements summed over ranks: "
         << wrong_total;
      ctx.header = {h1.str(), h2.str(), h3.str(), h4.str()};
      const bool ok = write_validation_table(std::cout, ctx, rows, ranks, spec.backend == comm::BackendKind::cuda);
      for (const auto& row : rows)
        if (!row.ok())
          std::cerr << "trainmem-validate: mismatch on rank " << row.rank << ", " << row.item << ": predicted "
                    << row.predicted << " B, measured " << row.measured << " B (delta " << row.delta() << ", tolerance "
                    << row.tolerance << ")\n";
      code = ok ? kExitOk : kExitDoesNotFit;
      std::cout.flush();
    }
    return session.broadcast_from_root(code);
  } catch (const std::bad_alloc&) {
    std::cerr << "trainmem-validate: fatal on rank " << session.rank() << " (host " << session.host()
              << "): out of host memory; aborting the job\n";
    session.abort(kExitRuntime);
  } catch (const std::exception& e) {
    std::cerr << "trainmem-validate: fatal on rank " << session.rank() << " (host " << session.host()
              << "): " << e.what() << "; aborting the job\n";
    session.abort(exit_code_of(e));
  }
}

}  // namespace
}  // namespace trainmem::tools

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    trainmem::comm::Session session(&argc, &argv);
    trainmem::tools::install_termination_handler(session.rank(), session.host());
    return trainmem::tools::validate(session, args);
  } catch (const std::exception& e) {
    std::cerr << "trainmem-validate: cannot start the MPI runtime: " << e.what() << "\n";
    return trainmem::tools::kExitRuntime;
  }
}
