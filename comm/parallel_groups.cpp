#include "comm/parallel_groups.hpp"

#include <algorithm>
#include <string>

#include "comm/check.hpp"
#include "comm/parallel_groups_impl.hpp"
#include "comm/session.hpp"
#include "comm/watchdog.hpp"

namespace trainmem::comm {

std::size_t group_slot(ParallelDim dim) {
  for (std::size_t i = 0; i < kGroupDims.size(); ++i)
    if (kGroupDims[i] == dim) return i;
  throw CommError("no communicator is built for parallel dimension " + std::string(parallel_dim_name(dim)));
}

MPI_Comm ParallelGroups::Impl::comm(ParallelDim dim) const { return comms[group_slot(dim)]; }

ParallelGroups::ParallelGroups(const Session& session, const RankGrid& grid) : impl_(std::make_unique<Impl>()) {
  if (grid.world_size() != session.size())
    throw CommError("the rank grid has " + std::to_string(grid.world_size()) + " ranks but the job has " +
                    std::to_string(session.size()) + " at " + where(__FILE__, __LINE__));
  impl_->comms.fill(MPI_COMM_NULL);
  for (std::size_t i = 0; i < kGroupDims.size(); ++i) {
    auto members = grid.group_ranks(kGroupDims[i], session.rank());
    // Color: the group's lowest member; key: the global rank, so group index follows rank order.
    const int color = static_cast<int>(members.front());
    {
      const PeerWait wait;
      TRAINMEM_MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, color, session.rank(), &impl_->comms[i]));
    }
    int size = 0, index = 0;
    TRAINMEM_MPI_CHECK(MPI_Comm_size(impl_->comms[i], &size));
    TRAINMEM_MPI_CHECK(MPI_Comm_rank(impl_->comms[i], &index));
    const auto pos = std::find(members.begin(), members.end(), session.rank());
    if (size != static_cast<int>(members.size()) || pos == members.end() || index != pos - members.begin())
      throw CommError(std::string(parallel_dim_name(kGroupDims[i])) + " communicator disagrees with RankGrid: size " +
                      std::to_string(size) + " vs " + std::to_string(members.size()) + " at " +
                      where(__FILE__, __LINE__));
    impl_->members[i] = std::move(members);
    impl_->index[i] = index;
  }
}

ParallelGroups::~ParallelGroups() {
  for (MPI_Comm& c : impl_->comms)
    if (c != MPI_COMM_NULL) MPI_Comm_free(&c);
}

const std::vector<std::int64_t>& ParallelGroups::members(ParallelDim dim) const {
  return impl_->members[group_slot(dim)];
}
int ParallelGroups::size(ParallelDim dim) const { return static_cast<int>(impl_->members[group_slot(dim)].size()); }
int ParallelGroups::index(ParallelDim dim) const { return impl_->index[group_slot(dim)]; }

}  // namespace trainmem::comm
