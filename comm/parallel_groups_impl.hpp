// The MPI side of ParallelGroups; private to comm/ (includes <mpi.h>).
#pragma once

#include <mpi.h>

#include <array>

#include "comm/parallel_groups.hpp"

namespace trainmem::comm {

inline constexpr std::array<ParallelDim, 5> kGroupDims = {ParallelDim::tp, ParallelDim::cp, ParallelDim::ep,
                                                          ParallelDim::dp, ParallelDim::pp};

struct ParallelGroups::Impl {
  std::array<MPI_Comm, kGroupDims.size()> comms{};
  std::array<std::vector<std::int64_t>, kGroupDims.size()> members;
  std::array<int, kGroupDims.size()> index{};
  MPI_Comm comm(ParallelDim dim) const;
};

std::size_t group_slot(ParallelDim dim);

}  // namespace trainmem::comm
