// RankGrid: global rank <-> coordinates in Megatron order tp-cp-ep-dp-pp (tp fastest). Experts use the
// MoE-parallel-folding order etp-ep-edp over the same tp*cp*dp block (Megatron-Core RankGenerator).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "partition/parallel_config.hpp"

namespace trainmem {

enum class ParallelDim { tp, cp, dp, pp, etp, ep, edp };
std::string_view parallel_dim_name(ParallelDim dim);

struct RankCoords {
  std::int64_t tp = 0, cp = 0, dp = 0, pp = 0;  // dense layout
  std::int64_t etp = 0, ep = 0, edp = 0;        // expert layout
};

class RankGrid {
 public:
  explicit RankGrid(const ParallelConfig& resolved);

  std::int64_t world_size() const { return config_.world_size; }
  RankCoords coords(std::int64_t global_rank) const;
  std::int64_t global_rank(std::int64_t tp, std::int64_t cp, std::int64_t dp, std::int64_t pp) const;
  // All global ranks that share every coordinate with `global_rank` except `dim` (ascending).
  std::vector<std::int64_t> group_ranks(ParallelDim dim, std::int64_t global_rank) const;

 private:
  ParallelConfig config_;
};

}  // namespace trainmem
