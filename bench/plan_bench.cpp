// Speed of `trainmem plan` (DESIGN.md section 9: at least 5 million candidate layouts per second per core;
// a 100B model up to 4096 GPUs with every knob searched in under 1 s). gpt-100b, h100-80gb, seq 4096,
// global batch 1536, gpus_per_node 8, 10% margin.
//   BM_PlanEvaluate: Planner::evaluate() alone over every candidate of the space (items/s = candidates/s);
//   BM_PlanEvaluateBounds(Knobs): evaluate_bounds() (estimate()'s peak and the replay's lower bound), the CLI's
//     hot path when it replays (the default). The searches below rank by that bound, as the CLI does.
//   BM_PlanBuild: resolving the request and precomputing the pieces (no search).
//   BM_PlanSearch/min_gpus, /top10: build + search as the CLI runs them (early stop once answered).
//   BM_PlanSearchExhaustive: build + search with no early stop: every world size up to 4096 visited.
//   BM_PlanSearchExhaustiveUneven: the same with uneven pipeline splits (--uneven-pp).
//   BM_PlanSearchExhaustiveOffload, BM_PlanEvaluateOffload: the same with --offload-search nvme.
//   BM_PlanSearchExhaustiveKnobs, BM_PlanEvaluateKnobs: the same with Ulysses up to 8, HSDP shard groups and uneven
//     splits up to 8 layers lighter searched (and uniform recompute groups, searched by default).
//   BM_PlanSearchAndReplay: build + search + the simulator's replay of the finalists, as `plan --min-gpus`
//     (default top 10) runs them.
//   BM_PlanProcess: the whole `trainmem plan ... --min-gpus --format json` process (/simulate:0 adds
//     --no-simulate).
//   BM_PlanGlobalBatch/log2_gbs: llama2-7b, seq 4096, on exactly 8 A100-80GB (`plan --num-gpus 8`): build + search +
//     replay for a global batch of 2^k sequences (k = 6 .. 24): the time must not grow with the batch.
//   BM_PlanLarge/model: build + search + replay of `plan --min-gpus` up to 16,384 H100-80GB for llama3-405b and
//     deepseek-v3 (seq 4096, global batch 4096); BM_PlanLargeProcess: the deepseek-v3 one as a whole process.
#include <benchmark/benchmark.h>

#include "bench/spawn_process.hpp"
#include "partition/model_presets.hpp"
#include "sim/planner/plan_verify.hpp"
#include "sim/planner/planner.hpp"
#include "sim/runtime/device_spec.hpp"

namespace {
using namespace trainmem;

sim::PlanRequest request_100b() {
  sim::PlanRequest r;
  const ModelPreset* p = find_model_preset("gpt-100b");
  r.base.model = p->spec;
  r.base.default_seq_length = p->default_seq_length;
  r.base.training.seq_length = 4096;
  r.base.training.global_batch_size = 1536;
  r.base.gpu_memory = sim::find_device("h100-80gb")->memory;
  r.max_gpus = 4096;
  return r;
}

// The evaluator alone over every candidate of `planner`'s space (items/s = candidates/s); `bounds`: with the lower
// bound of the replayed peak too (Planner::evaluate_bounds(), the CLI's search when it replays).
void evaluate_all(benchmark::State& state, const sim::Planner& planner, bool bounds = false) {
  const auto cands = planner.candidates();
  std::uint64_t fits = 0;
  for (auto _ : state) {
    for (const auto& c : cands) {
      if (bounds) {
        const auto pb = planner.evaluate_bounds(c.base, c.sequence_parallel, c.zero_stage, c.recompute, c.offload);
        fits += pb.lower <= planner.budget() ? 1 : 0;
        benchmark::DoNotOptimize(pb);
        continue;
      }
      const Bytes peak = planner.evaluate(c.base, c.sequence_parallel, c.zero_stage, c.recompute, c.offload);
      fits += peak <= planner.budget() ? 1 : 0;
      benchmark::DoNotOptimize(peak);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * cands.size()));
  state.counters["candidates"] = static_cast<double>(cands.size());
  benchmark::DoNotOptimize(fits);
}

void BM_PlanEvaluate(benchmark::State& state) { evaluate_all(state, sim::Planner(request_100b())); }
BENCHMARK(BM_PlanEvaluate)->Unit(benchmark::kMillisecond);
void BM_PlanEvaluateBounds(benchmark::State& state) { evaluate_all(state, sim::Planner(request_100b()), true); }
BENCHMARK(BM_PlanEvaluateBounds)->Unit(benchmark::kMillisecond);

void BM_PlanBuild(benchmark::State& state) {
  const sim::PlanRequest rq = request_100b();
  for (auto _ : state) {
    const sim::Planner planner(rq);
    benchmark::DoNotOptimize(planner.num_bases());
  }
}
BENCHMARK(BM_PlanBuild)->Unit(benchmark::kMillisecond);

void report(benchmark::State& state, const sim::PlanResult& r) {
  state.counters["candidates"] = static_cast<double>(r.counts.candidates);
  state.counters["evaluated"] = static_cast<double>(r.counts.evaluated);
  state.counters["pruned"] = static_cast<double>(r.counts.pruned_by_bound + r.counts.pruned_monotone);
  state.counters["not_visited"] = static_cast<double>(r.counts.not_visited);
}

void BM_PlanSearch(benchmark::State& state) {
  const sim::PlanRequest rq = request_100b();
  sim::PlanSearchOptions opt;
  opt.min_gpus = state.range(0) != 0;
  opt.fit_by_replay = true;
  sim::PlanResult r;
  for (auto _ : state) {
    const sim::Planner planner(rq);
    r = planner.search(opt);
    benchmark::DoNotOptimize(r.layouts.data());
  }
  report(state, r);
}
BENCHMARK(BM_PlanSearch)->ArgName("min_gpus")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

// Build + search with no early stop over `rq`: every world size visited.
void search_exhaustive(benchmark::State& state, const sim::PlanRequest& rq) {
  sim::PlanSearchOptions opt;
  opt.stop_early = false;
  opt.fit_by_replay = true;
  sim::PlanResult r;
  for (auto _ : state) {
    const sim::Planner planner(rq);
    r = planner.search(opt);
    benchmark::DoNotOptimize(r.layouts.data());
  }
  report(state, r);
}

void BM_PlanSearchExhaustive(benchmark::State& state) { search_exhaustive(state, request_100b()); }
BENCHMARK(BM_PlanSearchExhaustive)->Unit(benchmark::kMillisecond);

// The same with uneven pipeline splits searched too (--uneven-pp): every pp from 1 to 80.
void BM_PlanSearchExhaustiveUneven(benchmark::State& state) {
  sim::PlanRequest rq = request_100b();
  rq.uneven_splits = true;
  search_exhaustive(state, rq);
}
BENCHMARK(BM_PlanSearchExhaustiveUneven)->Unit(benchmark::kMillisecond);

// The issue 18 knobs on (--max-ulysses-sp 8 --hsdp-search --uneven-max-delta 8; uniform recompute groups are
// searched by default): every world size visited, and the evaluator alone over that space's candidates.
sim::PlanRequest request_100b_knobs() {
  sim::PlanRequest rq = request_100b();
  rq.max_ulysses_sp = 8;
  rq.search_shard_groups = true;
  rq.uneven_splits = true;
  rq.uneven_max_delta = 8;
  return rq;
}
void BM_PlanSearchExhaustiveKnobs(benchmark::State& state) { search_exhaustive(state, request_100b_knobs()); }
BENCHMARK(BM_PlanSearchExhaustiveKnobs)->Unit(benchmark::kMillisecond);
void BM_PlanEvaluateKnobs(benchmark::State& state) { evaluate_all(state, sim::Planner(request_100b_knobs())); }
BENCHMARK(BM_PlanEvaluateKnobs)->Unit(benchmark::kMillisecond);
void BM_PlanEvaluateBoundsKnobs(benchmark::State& state) {
  evaluate_all(state, sim::Planner(request_100b_knobs()), true);
}
BENCHMARK(BM_PlanEvaluateBoundsKnobs)->Unit(benchmark::kMillisecond);

// As tools/cli/plan/plan_cli.cpp runs it for `--min-gpus --top 10`: a ranking 2 x 10 + 8 deep, then the replay.
void BM_PlanSearchAndReplay(benchmark::State& state) {
  const sim::PlanRequest rq = request_100b();
  sim::PlanSearchOptions opt;
  opt.top = 28;
  opt.fit_by_replay = true;
  sim::PlanVerification v;
  for (auto _ : state) {
    const sim::Planner planner(rq);
    v = sim::verify_finalists(planner, planner.search(opt), opt.top, {10, true}, [&](std::size_t depth) {
      sim::PlanSearchOptions deeper;
      deeper.top = depth;
      deeper.fit_by_replay = true;
      return planner.search(deeper);
    });
    benchmark::DoNotOptimize(v.layouts.data());
  }
  state.counters["replays"] = static_cast<double>(v.replays);
  state.counters["finalists"] = static_cast<double>(v.bases_replayed);
}
BENCHMARK(BM_PlanSearchAndReplay)->Unit(benchmark::kMillisecond);

// Offload searched (--offload-search nvme; the same request): every world size visited, and the evaluator
// alone over the offload space's candidates.
void BM_PlanSearchExhaustiveOffload(benchmark::State& state) {
  sim::PlanRequest rq = request_100b();
  rq.offload_search = sim::OffloadDevice::nvme;
  search_exhaustive(state, rq);
}
BENCHMARK(BM_PlanSearchExhaustiveOffload)->Unit(benchmark::kMillisecond);

void BM_PlanEvaluateOffload(benchmark::State& state) {
  sim::PlanRequest rq = request_100b();
  rq.offload_search = sim::OffloadDevice::nvme;
  evaluate_all(state, sim::Planner(rq));
}
BENCHMARK(BM_PlanEvaluateOffload)->Unit(benchmark::kMillisecond);

// build + search (top 2 x 10 + 8, as the CLI) + the replay of the finalists, as `trainmem plan` runs them.
sim::PlanVerification plan_and_replay(const sim::PlanRequest& rq, bool min_gpus, sim::PlanCounts& counts) {
  const sim::Planner planner(rq);
  sim::PlanSearchOptions opt;
  opt.top = 28;
  opt.fit_by_replay = true;
  const sim::PlanResult r = planner.search(opt);
  counts = r.counts;
  return sim::verify_finalists(planner, r, opt.top, {10, min_gpus}, [&](std::size_t depth) {
    sim::PlanSearchOptions deeper;
    deeper.top = depth;
    deeper.fit_by_replay = true;
    return planner.search(deeper);
  });
}

void BM_PlanGlobalBatch(benchmark::State& state) {
  sim::PlanRequest r;
  const ModelPreset* p = find_model_preset("llama2-7b");
  r.base.model = p->spec;
  r.base.default_seq_length = p->default_seq_length;
  r.base.training.seq_length = 4096;
  r.base.training.global_batch_size = std::int64_t{1} << state.range(0);
  r.base.gpu_memory = sim::find_device("a100-80gb")->memory;
  r.num_gpus = 8;
  r.whole_nodes = false;
  sim::PlanCounts counts;
  sim::PlanVerification v;
  for (auto _ : state) {
    v = plan_and_replay(r, false, counts);
    benchmark::DoNotOptimize(v.layouts.data());
  }
  state.counters["candidates"] = static_cast<double>(counts.candidates);
  state.counters["replays"] = static_cast<double>(v.replays);
}
BENCHMARK(BM_PlanGlobalBatch)->ArgName("log2_gbs")->DenseRange(6, 24, 6)->Arg(20)->Unit(benchmark::kMillisecond);

sim::PlanRequest request_large(const char* preset) {
  sim::PlanRequest r;
  const ModelPreset* p = find_model_preset(preset);
  r.base.model = p->spec;
  r.base.default_seq_length = p->default_seq_length;
  r.base.training.seq_length = 4096;
  r.base.training.global_batch_size = 4096;
  r.base.gpu_memory = sim::find_device("h100-80gb")->memory;
  r.max_gpus = 16384;
  return r;
}

void BM_PlanLarge(benchmark::State& state) {
  const char* preset = state.range(0) == 0 ? "llama3-405b" : "deepseek-v3";
  state.SetLabel(preset);
  const sim::PlanRequest rq = request_large(preset);
  sim::PlanCounts counts;
  sim::PlanVerification v;
  for (auto _ : state) {
    v = plan_and_replay(rq, true, counts);
    benchmark::DoNotOptimize(v.layouts.data());
  }
  state.counters["candidates"] = static_cast<double>(counts.candidates);
  state.counters["evaluated"] = static_cast<double>(counts.evaluated);
  state.counters["min_gpus"] =
      v.layouts.empty() ? 0.0 : static_cast<double>(v.layouts.front().entry.layout.world_size());
}
BENCHMARK(BM_PlanLarge)->ArgName("model")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_PlanLargeProcess(benchmark::State& state) {
  bench::time_process(state,
                      {TRAINMEM_BINARY, "plan", "--model", "deepseek-v3", "--gpu", "h100-80gb", "--seq-length", "4096",
                       "--global-batch-size", "4096", "--max-gpus", "16384", "--min-gpus", "--format", "json"},
                      0);
}
BENCHMARK(BM_PlanLargeProcess)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_PlanProcess(benchmark::State& state) {
  std::vector<std::string> args = {
      TRAINMEM_BINARY,       "plan", "--model",    "gpt-100b", "--gpu", "h100-80gb", "--seq-length", "4096",
      "--global-batch-size", "1536", "--min-gpus", "--format", "json"};
  if (state.range(0) == 0) args.emplace_back("--no-simulate");
  bench::time_process(state, std::move(args), 0);
}
BENCHMARK(BM_PlanProcess)->ArgName("simulate")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
