#include "partition/rank_grid.hpp"

#include <string>

#include "partition/error.hpp"

namespace trainmem {

std::string_view parallel_dim_name(ParallelDim dim) {
  switch (dim) {
    case ParallelDim::tp: return "tp";
    case ParallelDim::cp: return "cp";
    case ParallelDim::dp: return "dp";
    case ParallelDim::pp: return "pp";
    case ParallelDim::etp: return "etp";
    case ParallelDim::ep: return "ep";
    case ParallelDim::edp: return "edp";
  }
  return "?";
}

RankGrid::RankGrid(const ParallelConfig& resolved) : config_(resolved) {}

RankCoords RankGrid::coords(std::int64_t r) const {
  if (r < 0 || r >= config_.world_size)
    throw ConfigError("rank", std::to_string(r), "outside world of " + std::to_string(config_.world_size));
  const auto& c = config_;
  RankCoords x;
  x.tp = r % c.tp;
  x.cp = (r / c.tp) % c.cp;
  x.dp = (r / (c.tp * c.cp)) % c.dp;
  x.pp = r / (c.tp * c.cp * c.dp);
  const std::int64_t local = r % (c.tp * c.cp * c.dp);  // position inside the pipeline stage's block
  x.etp = local % c.etp;
  x.ep = (local / c.etp) % c.ep;
  x.edp = local / (c.etp * c.ep);
  return x;
}

std::int64_t RankGrid::global_rank(std::int64_t tp, std::int64_t cp, std::int64_t dp, std::int64_t pp) const {
  const auto& c = config_;
  return tp + c.tp * (cp + c.cp * (dp + c.dp * pp));
}

std::vector<std::int64_t> RankGrid::group_ranks(ParallelDim dim, std::int64_t r) const {
  const RankCoords x = coords(r);
  const auto& c = config_;
  std::vector<std::int64_t> ranks;
  const std::int64_t block = c.tp * c.cp * c.dp;
  const std::int64_t base = x.pp * block;
  switch (dim) {
    case ParallelDim::tp:
      for (std::int64_t i = 0; i < c.tp; ++i) ranks.push_back(global_rank(i, x.cp, x.dp, x.pp));
      break;
    case ParallelDim::cp:
      for (std::int64_t i = 0; i < c.cp; ++i) ranks.push_back(global_rank(x.tp, i, x.dp, x.pp));
      break;
    case ParallelDim::dp:
      for (std::int64_t i = 0; i < c.dp; ++i) ranks.push_back(global_rank(x.tp, x.cp, i, x.pp));
      break;
    case ParallelDim::pp:
      for (std::int64_t i = 0; i < c.pp; ++i) ranks.push_back(global_rank(x.tp, x.cp, x.dp, i));
      break;
    case ParallelDim::etp:
      for (std::int64_t i = 0; i < c.etp; ++i) ranks.push_back(base + i + c.etp * (x.ep + c.ep * x.edp));
      break;
    case ParallelDim::ep:
      for (std::int64_t i = 0; i < c.ep; ++i) ranks.push_back(base + x.etp + c.etp * (i + c.ep * x.edp));
      break;
    case ParallelDim::edp:
      for (std::int64_t i = 0; i < block / (c.etp * c.ep); ++i)
        ranks.push_back(base + x.etp + c.etp * (x.ep + c.ep * i));
      break;
  }
  return ranks;
}

}  // namespace trainmem
