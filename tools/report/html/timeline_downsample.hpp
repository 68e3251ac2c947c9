// Downsampling of a stage's memory timeline for the HTML report and the Chrome trace: a step of a large job
// has ~10^4 events per stage, more than a chart has pixel columns. The samples are cut into `buckets`
// consecutive runs; each run keeps its sample of the largest and of the smallest total (so every spike and
// every dip stays visible), and the first, the last and the peak sample are always kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sim/engine/event_engine.hpp"

namespace trainmem::tools {

// Indices into `timeline` to keep, ascending and distinct. All of them when the timeline has at most
// 2 * buckets samples. `peak` is the index of the peak sample (kept whatever the buckets say).
std::vector<std::size_t> downsample_timeline(const std::vector<sim::TimelineSample>& timeline, std::size_t buckets,
                                             std::size_t peak);

// The same rule for a series of plain byte totals (`trainmem compare`'s measured allocated and reserved timelines).
std::vector<std::size_t> downsample_series(const std::vector<std::uint64_t>& totals, std::size_t buckets,
                                           std::size_t peak);

// The index of the sample taken after event `event` (the timeline is in event order); timeline.size() if none.
std::size_t sample_of_event(const std::vector<sim::TimelineSample>& timeline, std::uint32_t event);

}  // namespace trainmem::tools
