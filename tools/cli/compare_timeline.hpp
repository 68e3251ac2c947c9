// The timelines of `trainmem compare` (JSON `measured.timeline` / `predicted.timeline`, and the --html page, which
// draws the same JSON): the measured allocated and reserved bytes of the snapshot's trace replay, and trainmem's
// step replay (simulate()) of the rank class compared, as allocated bytes. Each is downsampled with
// tools/report/html/timeline_downsample.hpp (every bucket's spike and dip, the first, the last and the exact peak
// kept). The x axes differ (trace entries, simulated events); each series carries x_first and x_last, the page
// draws both as the fraction of the step from the first to the last entry or event.
#pragma once

#include <nlohmann/json.hpp>

#include "sim/engine/simulate.hpp"
#include "tools/inputs/measured_memory.hpp"

namespace trainmem::tools {

inline constexpr std::size_t kCompareBuckets = 400;  // at most 2 x 400 + 3 samples per series, as simulate --html

// The trace of the device whose 512 B peak is the compared figure; null without a trace (lab JSON, a snapshot of
// segments only).
nlohmann::json measured_timeline_json(const MeasuredMemory& m, std::size_t buckets = kCompareBuckets);

// The first stage of the rank class estimate() reports as the fullest, its samples as allocated bytes (every category
// but runtime, + workspaces: RankClass::allocated at each event); null when the replay kept no timeline.
nlohmann::json predicted_timeline_json(const sim::SimulationResult& r, std::size_t buckets = kCompareBuckets);

}  // namespace trainmem::tools
