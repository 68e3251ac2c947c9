// Plan ranks: the processes one `trainmem plan` search is split over. Under mpirun (detected from the
// launcher's environment: OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE) it is the MPI world via comm::Session;
// otherwise one process. Each rank evaluates a slice of the bases; rank 0 merges and prints.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace trainmem::tools {

struct PlanRanks {
  int rank = 0;
  int size = 1;
  std::function<std::uint64_t(std::uint64_t)> sum;                     // over every rank
  std::function<std::vector<std::string>(const std::string&)> gather;  // every rank's text on rank 0
};

// True when the process was started by an MPI launcher with more than one rank.
bool launched_under_mpi();
// This process's rank from the launcher's environment (0 outside mpirun), without initialising MPI.
int launcher_rank();

// Calls `body` with the ranks of this job: MPI (initialised for the call, finalised after) when launched
// under mpirun and this build has MPI, else a single process.
int with_plan_ranks(const std::function<int(const PlanRanks&)>& body);

}  // namespace trainmem::tools
