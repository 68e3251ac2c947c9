// ParallelGroups: one MPI communicator per parallel dimension (tp, cp, dp, pp, ep) of this rank,
// split from MPI_COMM_WORLD with the membership RankGrid::group_ranks gives (Megatron order
// tp-cp-ep-dp-pp), so collectives run over exactly the groups the prediction assumes.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "partition/rank_grid.hpp"

namespace trainmem::comm {

class Session;

class ParallelGroups {
 public:
  struct Impl;
  ParallelGroups(const Session& session, const RankGrid& grid);
  ~ParallelGroups();
  ParallelGroups(const ParallelGroups&) = delete;
  ParallelGroups& operator=(const ParallelGroups&) = delete;

  // Members (global ranks, ascending), size and this rank's index in the group of `dim`.
  const std::vector<std::int64_t>& members(ParallelDim dim) const;
  int size(ParallelDim dim) const;
  int index(ParallelDim dim) const;
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace trainmem::comm
