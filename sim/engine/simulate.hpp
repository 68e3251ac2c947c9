// simulate(): replays one training step of every pipeline stage with the event engine, with sizes from
// the analytic accounting (estimate(): model states, the op-level activation model), and reports each
// stage's peak, the breakdown at the peak and the event that reached it (DESIGN.md section 5).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sim/accounting/estimate.hpp"
#include "sim/engine/event_engine.hpp"

namespace trainmem::sim {

struct StageReport {
  std::int64_t pp_rank = 0;
  std::size_t estimate_class = 0;   // index into estimate.classes
  std::vector<std::int64_t> ranks;  // global ranks on this stage
  StageStepInputs inputs;
  StageSimulation simulation;
};

struct SimulationResult {
  EstimateResult estimate;
  PipelineSchedule schedule = PipelineSchedule::grad_accum;
  std::vector<StageReport> stages;  // one per pipeline stage
  std::size_t max_peak_stage = 0;
  Bytes max_peak;
  std::optional<bool> fits;
};

// With keep_timeline every event of every stage is kept: refused (ConfigError) above this many microbatches.
inline constexpr std::int64_t kMaxTimelineMicrobatches = 16384;

SimulationResult simulate(const Scenario& scenario, bool keep_timeline);

}  // namespace trainmem::sim
