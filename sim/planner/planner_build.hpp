// Build-time types of the Planner (internal to sim/planner/): a pipeline split of pp stages and the memo that
// gives each distinct key (layer shape, parameter shard, in-flight counts, inner-knob options) one piece.
#pragma once

#include <cstdint>
#include <map>
#include <tuple>

#include "sim/planner/planner.hpp"

namespace trainmem::sim {

// (first, last) layer counts, {0, 0} = even (pp divides num_layers); the middle stages share the rest evenly.
struct Planner::Split {
  std::int64_t first = 0, last = 0, n_first = 0, n_mid = 0, n_last = 0;
};

struct Planner::PieceIndex {
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>,
           std::uint32_t>
      layer;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>,
           std::uint32_t>
      shard;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, std::uint32_t> inflight;
  std::map<std::tuple<bool, bool, bool, std::int64_t, std::int64_t, std::int64_t, bool, std::uint8_t>, std::uint32_t>
      options;
};

}  // namespace trainmem::sim
