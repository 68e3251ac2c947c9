// Speed of `trainmem estimate` (DESIGN.md section 9: a whole process under 20 ms).
//   BM_EstimateLibrary: sim::estimate() in-process for GPT-3 175B on 1024 ranks (tp 8, pp 16, dp 8).
//   BM_EstimateCliInProcess: the same through run_cli with JSON output (parsing + formatting included).
//   BM_EstimateProcess: the whole `trainmem estimate` process (exec, dynamic loading, YAML, output).
#include <benchmark/benchmark.h>

#include <sstream>
#include <stdexcept>

#include "bench/spawn_process.hpp"
#include "partition/model_presets.hpp"
#include "sim/accounting/estimate.hpp"
#include "sim/engine/simulate.hpp"
#include "tools/cli/cli.hpp"

namespace {
using namespace trainmem;

sim::Scenario gpt3_layout() {
  sim::Scenario sc;
  sc.model = find_model_preset("gpt3-175b")->spec;
  sc.default_seq_length = 2048;
  sc.parallel.tp = 8;
  sc.parallel.pp = 16;
  sc.parallel.dp = 8;
  sc.training.recipe = "megatron";
  return sc;
}

void BM_EstimateLibrary(benchmark::State& state) {
  const sim::Scenario sc = gpt3_layout();
  for (auto _ : state) benchmark::DoNotOptimize(sim::estimate(sc));
}
BENCHMARK(BM_EstimateLibrary)->Unit(benchmark::kMicrosecond);

void BM_EstimateCliInProcess(benchmark::State& state) {
  const std::vector<std::string> args = {"estimate", "--model", "gpt3-175b", "--tp",     "8",        "--pp", "16",
                                         "--dp",     "8",       "--recipe",  "megatron", "--format", "json"};
  for (auto _ : state) {
    std::ostringstream out, err;
    if (tools::run_cli(args, out, err) != 0) throw std::runtime_error(err.str());
    benchmark::DoNotOptimize(out.str().size());
  }
}
BENCHMARK(BM_EstimateCliInProcess)->Unit(benchmark::kMicrosecond);

void BM_EstimateProcess(benchmark::State& state) {
  const std::string scenario = std::string(TRAINMEM_SOURCE_DIR) + "/scenarios/gpt3_175b_megatron.yaml";
  bench::time_process(state, {TRAINMEM_BINARY, "estimate", scenario, "--format", "json"}, 1);  // 1: does not fit
}
BENCHMARK(BM_EstimateProcess)->Unit(benchmark::kMillisecond)->UseRealTime();

// DESIGN.md section 9: GPT-3 175B on 1024 GPUs (tp 8, pp 16, dp 8, vpp 3, 128 microbatches) simulated with
// per-layer events, every stage replayed; with and without keeping the full timeline (trace/HTML output).
void BM_Simulate175B(benchmark::State& state) {
  sim::Scenario sc = gpt3_layout();
  sc.parallel.vpp = 3;
  sc.parallel.sequence_parallel = true;
  sc.training.recompute_granularity = sim::RecomputeGranularity::selective;
  sc.training.global_batch_size = 128 * 8;  // 128 microbatches of 1 on each of dp = 8 replicas
  const bool timeline = state.range(0) != 0;
  std::size_t events = 0;
  for (auto _ : state) {
    const sim::SimulationResult r = sim::simulate(sc, timeline);
    events = 0;
    for (const auto& st : r.stages) events += st.simulation.timeline.size();
    benchmark::DoNotOptimize(r.max_peak);
  }
  state.counters["timeline_events"] = static_cast<double>(events);
}
BENCHMARK(BM_Simulate175B)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
